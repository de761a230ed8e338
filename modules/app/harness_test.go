package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/server"
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/pgtest"
)

// The integration suite runs every test on each store: the embedded SQLite
// default always, Postgres (+ Redis) when TEST_DATABASE_URL is set. CI sets
// REQUIRE_POSTGRES=1 so a missing Postgres fails instead of skipping.
type storeKind string

const (
	sqliteStore   storeKind = "sqlite"
	postgresStore storeKind = "postgres"
)

func TestMain(m *testing.M) {
	SetProcessGlobals()
	// The suite reads the repository's files by their paths from its root
	// (configs/config.yaml, web/, docs/events/, deploy/, docker-compose.yml),
	// as the binary does in a checkout, and run() finds configs/config.yaml
	// there by default: run from the root, not from modules/app.
	root, err := testkit.RepoRoot()
	if err == nil {
		err = os.Chdir(root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration suite:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func storeKinds(t *testing.T) []storeKind {
	t.Helper()
	kinds := []storeKind{sqliteStore}
	if pgtest.Configured(t) {
		kinds = append(kinds, postgresStore)
	}
	return kinds
}

// eachStore runs fn once per store kind as a subtest.
func eachStore(t *testing.T, fn func(t *testing.T, kind storeKind)) {
	for _, k := range storeKinds(t) {
		t.Run(string(k), func(t *testing.T) { fn(t, k) })
	}
}

// freshPostgres is a throwaway database for one test.
func freshPostgres(t *testing.T) string { return pgtest.FreshDatabase(t, "papi_t") }

const (
	adminEmail    = "admin@example.com"
	adminPassword = "admin-password-1"
)

// testConfig is a full configuration for one isolated instance.
func testConfig(t *testing.T, kind storeKind) config.Config {
	t.Helper()
	env := map[string]string{
		"DATA_DIR":                 t.TempDir(),
		"AUTH_SIGNING_KEY":         "test-signing-key-0123456789abcdef0123456789",
		"BOOTSTRAP_ADMIN_EMAIL":    adminEmail,
		"BOOTSTRAP_ADMIN_PASSWORD": adminPassword,
		"LOG_LEVEL":                "warn",
		// Tests share one Redis database; a namespace per instance keeps
		// their cached lists apart (the two-instance test shares one cfg).
		"CACHE_NAMESPACE": fmt.Sprintf("test%d", time.Now().UnixNano()),
	}
	if kind == postgresStore {
		env["DATABASE_URL"] = freshPostgres(t)
		if r := os.Getenv("TEST_REDIS_URL"); r != "" {
			env["REDIS_URL"] = r
		}
	}
	cfg, err := config.Load(filepath.Join("configs", "config.yaml"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// The race detector and a loaded CI machine make latency jumpy; the
	// adaptive limit has its own tests (platform/resilience) and must not
	// shed the concurrency these tests create on purpose.
	cfg.Overload = config.Overload{InitialLimit: 4096, MinLimit: 4096, MaxLimit: 4096}
	// Rate limits on (the headers are part of every /v1 response) but far
	// beyond what the suite sends: its many logins are never limited.
	// ratelimit_test.go sets strict limits explicitly.
	cfg.RateLimit.Groups = generousRateLimits
	return cfg
}

// patientRedis gives Redis 2 s budgets instead of production's tens of
// milliseconds. On a loaded CI machine (race detector, parallel builds) a
// Redis reply can overrun those, and the limiter or the cache would then
// decide locally or trip a breaker: correct behaviour, but not what a test
// asserting exact shared counts or a healthy Redis expects.
func patientRedis(cfg config.Config) config.Config {
	cfg.RateLimit.RedisTimeout = 2 * time.Second
	cfg.Cache.RedisTimeout = 2 * time.Second
	if cfg.Redis.URL != "" {
		sep := "?"
		if strings.Contains(cfg.Redis.URL, "?") {
			sep = "&"
		}
		cfg.Redis.URL += sep + "read_timeout=2s&write_timeout=2s&pool_timeout=2s"
	}
	return cfg
}

// testServer is one running instance behind the real middleware chain and
// the same compression handler as production.
type testServer struct {
	t   *testing.T
	app *App
	srv *httptest.Server
	log *bytes.Buffer
}

func startServer(t *testing.T, cfg config.Config, opts ...Option) *testServer {
	t.Helper()
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	app, err := New(ctx, cfg, log, opts...)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	app.ready.Store(true)
	hs := httptest.NewServer(server.New(cfg.HTTP, app.router, log).Handler)
	t.Cleanup(func() {
		hs.Close()
		cancel()
		app.Close()
	})
	return &testServer{t: t, app: app, srv: hs, log: logs}
}

func newServer(t *testing.T, kind storeKind) *testServer {
	t.Helper()
	return startServer(t, testConfig(t, kind))
}

// response is a decoded reply.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// do sends a request; body may be nil, a string (sent raw) or a value (JSON).
func (s *testServer) do(method, path, token string, body any, headers ...string) response {
	s.t.Helper()
	r, err := s.rawDo(method, path, token, body, headers...)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// rawDo is do without failing the test: goroutine-safe (s.do fails the
// test from its own goroutine, which concurrent callers must not do). A
// string or []byte body is sent as it is, anything else as JSON.
func (s *testServer) rawDo(method, path, token string, body any, headers ...string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}, err
}

// expect fails the test unless the status matches; problems must be RFC 9457.
func expect(t *testing.T, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if status >= 400 {
		checkProblem(t, r)
	}
}

// checkProblem asserts the RFC 9457 shape and that nothing internal leaks.
func checkProblem(t *testing.T, r response) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("problem content type %q: %s", ct, r.Body)
	}
	p := r.JSON(t)
	for _, k := range []string{"type", "title", "status", "request_id"} {
		if _, ok := p[k]; !ok {
			t.Fatalf("problem lacks %q: %s", k, r.Body)
		}
	}
	if int(p["status"].(float64)) != r.Status {
		t.Fatalf("problem status %v != %d", p["status"], r.Status)
	}
	low := strings.ToLower(string(r.Body))
	for _, leak := range []string{"sql", "gorm", "pgx", "sqlite", "goroutine", ".go:", "select ", "insert ", "duplicate key", "127.0.0.1"} {
		if strings.Contains(low, leak) {
			t.Fatalf("problem leaks %q: %s", leak, r.Body)
		}
	}
}

func (s *testServer) login(email, password string) string {
	s.t.Helper()
	r := s.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	expect(s.t, r, 200)
	return r.JSON(s.t)["access_token"].(string)
}

func (s *testServer) adminToken() string { return s.login(adminEmail, adminPassword) }

// register creates a customer and returns its ID and token.
func (s *testServer) register(email string) (id, token string) {
	s.t.Helper()
	r := s.do("POST", "/v1/auth/register", "", map[string]string{"email": email, "password": "customer-pass-1", "name": "Test Customer"})
	expect(s.t, r, 201)
	return r.JSON(s.t)["id"].(string), s.login(email, "customer-pass-1")
}

// createProduct creates a product as admin and returns its JSON.
func (s *testServer) createProduct(token string, fields map[string]any) map[string]any {
	s.t.Helper()
	body := map[string]any{"sku": fmt.Sprintf("SKU-%d", time.Now().UnixNano()), "name": "Widget", "price_cents": 1999, "currency": "EUR", "stock": 5, "category": "tools"}
	for k, v := range fields {
		body[k] = v
	}
	r := s.do("POST", "/v1/products", token, body)
	expect(s.t, r, 201)
	return r.JSON(s.t)
}

// lockedWriter lets concurrent handlers log into one buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
