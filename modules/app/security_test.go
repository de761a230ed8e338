package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"example.com/productapi/platform/server"
)

// testIssuer is a local OIDC issuer: discovery + a rotatable JWKS.
type testIssuer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys []map[string]string
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	is := &testIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/certs"})
	})
	mux.HandleFunc("/certs", func(w http.ResponseWriter, r *http.Request) {
		is.mu.Lock()
		defer is.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": is.keys})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// rotate publishes a fresh RSA key under kid (replacing the others).
func (is *testIssuer) rotate(t *testing.T, kid string) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	is.mu.Lock()
	is.keys = []map[string]string{{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes())}}
	is.mu.Unlock()
	return k
}

func (is *testIssuer) token(t *testing.T, key *rsa.PrivateKey, kid string, mod func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{"iss": is.srv.URL, "aud": "productapi", "sub": "ext-alice", "email": "alice@idp.example",
		"name": "Alice External", "exp": time.Now().Add(5 * time.Minute).Unix(), "roles": []string{"viewer"}}
	if mod != nil {
		mod(c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// OIDC resource-server mode: tokens of the configured issuer are verified
// against its JWKS and mapped to local users provisioned on first sight.
func TestOIDCResourceServer(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		is := newTestIssuer(t)
		key := is.rotate(t, "k1")
		cfg := testConfig(t, kind)
		cfg.Auth.OIDC.Issuer = is.srv.URL
		cfg.Auth.OIDC.Audience = "productapi"
		cfg.Auth.OIDC.AdminValue = "shop-admin"
		s := startServer(t, cfg)
		admin := s.adminToken()

		// A customer: provisioned with a local UUID, works with /users/me and orders.
		cust := is.token(t, key, "k1", nil)
		me := s.do("GET", "/v1/users/me", cust, nil)
		expect(t, me, 200)
		u := me.JSON(t)
		localID, _ := u["id"].(string)
		if u["role"] != "customer" || u["email"] != "alice@idp.example" || len(localID) != 36 {
			t.Fatalf("provisioned user = %v", u)
		}
		if again := s.do("GET", "/v1/users/me", cust, nil).JSON(t); again["id"] != localID {
			t.Fatalf("second request mapped to %v, want %s", again["id"], localID)
		}
		p := s.createProduct(admin, map[string]any{"stock": 3})["id"].(string)
		r := s.placeOrder(cust, "ext-1", orderLine{p, 1})
		expect(t, r, 201)
		if r.JSON(t)["user_id"] != localID {
			t.Errorf("order user_id = %v, want %s", r.JSON(t)["user_id"], localID)
		}
		expect(t, s.do("GET", "/v1/users", cust, nil), 403)
		// The external identity cannot log in with a password.
		expect(t, s.do("POST", "/v1/auth/login", "", map[string]string{"email": "alice@idp.example", "password": "whatever-123"}), 401)
		// An external email that a local account owns never takes it over.
		bobID, _ := s.register("bob@example.com")
		bobExt := s.do("GET", "/v1/users/me", is.token(t, key, "k1", func(c jwt.MapClaims) { c["sub"] = "ext-bob"; c["email"] = "bob@example.com" }), nil)
		expect(t, bobExt, 200)
		if bobExt.JSON(t)["id"] == bobID || bobExt.JSON(t)["email"] == "bob@example.com" {
			t.Errorf("external token took over the local account: %s", bobExt.Body)
		}

		// The role comes from the mapped claim.
		adminExt := is.token(t, key, "k1", func(c jwt.MapClaims) { c["sub"] = "ext-root"; c["roles"] = []string{"shop-admin"} })
		expect(t, s.do("GET", "/v1/users?limit=5", adminExt, nil), 200)

		// Refused: 401 problems.
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		for name, tok := range map[string]string{
			"wrong issuer":   is.token(t, key, "k1", func(c jwt.MapClaims) { c["iss"] = "https://elsewhere.example" }),
			"wrong audience": is.token(t, key, "k1", func(c jwt.MapClaims) { c["aud"] = "another-api" }),
			"expired":        is.token(t, key, "k1", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
			"unknown kid":    is.token(t, other, "k-unknown", nil),
			"forged":         is.token(t, other, "k1", nil),
		} {
			r := s.do("GET", "/v1/users/me", tok, nil)
			if r.Status != 401 {
				t.Errorf("%s: status %d: %s", name, r.Status, r.Body)
			}
			checkProblem(t, r)
		}

		// Local tokens keep working next to the external ones.
		expect(t, s.do("GET", "/v1/users/me", admin, nil), 200)
	})
}

// The issuer rotates its key: a token with the new kid is accepted (the
// JWKS is refreshed on an unknown kid) and the retired key stops working.
func TestOIDCKeyRotation(t *testing.T) {
	is := newTestIssuer(t)
	k1 := is.rotate(t, "k1")
	cfg := testConfig(t, sqliteStore)
	cfg.Auth.OIDC.Issuer = is.srv.URL
	cfg.Auth.OIDC.Audience = "productapi"
	s := startServer(t, cfg)
	expect(t, s.do("GET", "/v1/users/me", is.token(t, k1, "k1", nil), nil), 200)
	k2 := is.rotate(t, "k2")
	expect(t, s.do("GET", "/v1/users/me", is.token(t, k2, "k2", nil), nil), 200)
	expect(t, s.do("GET", "/v1/users/me", is.token(t, k1, "k1", nil), nil), 401)
}

// CORS comes from configuration: listed origins get the headers (and
// preflights an answer), others none; "*" is never sent with credentials.
func TestCORS(t *testing.T) {
	cfg := testConfig(t, sqliteStore)
	cfg.HTTP.CORS.AllowedOrigins = []string{"https://shop.example.com"}
	cfg.HTTP.CORS.AllowCredentials = true
	s := startServer(t, cfg)

	pre := s.do("OPTIONS", "/v1/orders", "", nil, "Origin", "https://shop.example.com",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type,idempotency-key")
	if pre.Status != 204 && pre.Status != 200 {
		t.Fatalf("preflight status %d: %s", pre.Status, pre.Body)
	}
	h := pre.Header
	if h.Get("Access-Control-Allow-Origin") != "https://shop.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "idempotency-key") ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight headers = %v", h)
	}

	get := s.do("GET", "/v1/products", "", nil, "Origin", "https://shop.example.com")
	expect(t, get, 200)
	exposed := strings.ToLower(get.Header.Get("Access-Control-Expose-Headers"))
	for _, want := range []string{"etag", "location", "ratelimit", "ratelimit-policy", "link", "x-request-id"} {
		if !strings.Contains(exposed, want) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, want)
		}
	}
	if get.Header.Get("Access-Control-Allow-Origin") == "*" {
		t.Error(`"*" sent with credentials`)
	}

	evil := s.do("GET", "/v1/products", "", nil, "Origin", "https://evil.example")
	expect(t, evil, 200)
	if v := evil.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("unlisted origin got Access-Control-Allow-Origin %q", v)
	}
	if p := s.do("OPTIONS", "/v1/orders", "", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"); p.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unlisted origin's preflight was allowed: %v", p.Header)
	}

	// Without configured origins no CORS header is ever sent.
	plain := newServer(t, sqliteStore)
	if v := plain.do("GET", "/v1/products", "", nil, "Origin", "https://shop.example.com").Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("CORS header without configuration: %q", v)
	}
}

// http.max_header_bytes bounds request headers (431), and the real
// http.Server is built with it.
func TestMaxHeaderBytes(t *testing.T) {
	cfg := testConfig(t, sqliteStore)
	cfg.HTTP.MaxHeaderBytes = 8 << 10
	app, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	hs := server.New(cfg.HTTP, app.router, slog.New(slog.DiscardHandler))
	if hs.MaxHeaderBytes != 8<<10 {
		t.Fatalf("MaxHeaderBytes = %d", hs.MaxHeaderBytes)
	}
	ts := httptest.NewUnstartedServer(hs.Handler)
	ts.Config = hs
	ts.Start()
	defer ts.Close()
	get := func(headerSize int) int {
		req, _ := http.NewRequest("GET", ts.URL+"/livez", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", headerSize))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := get(1 << 10); st != 200 {
		t.Errorf("1 KiB of headers: %d", st)
	}
	if st := get(64 << 10); st != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: %d, want 431", st)
	}
}

// Nothing secret reaches the logs: run logins (good and bad), token-bearing
// requests and a password change with every log line captured at debug
// level, then search the output for the secrets.
func TestNoSecretsInLogs(t *testing.T) {
	cfg := testConfig(t, sqliteStore)
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	app.ready.Store(true)
	hs := httptest.NewServer(server.New(cfg.HTTP, app.router, log).Handler)
	t.Cleanup(func() { hs.Close(); app.Close() })
	s := &testServer{t: t, app: app, srv: hs, log: &buf}

	const pw, newPW = "very-secret-pass-1", "even-more-secret-2"
	expect(t, s.do("POST", "/v1/auth/register", "", map[string]string{"email": "zoe@example.com", "password": pw, "name": "Zoe"}), 201)
	tok := s.login("zoe@example.com", pw)
	expect(t, s.do("POST", "/v1/auth/login", "", map[string]string{"email": "zoe@example.com", "password": pw + "-wrong"}), 401)
	expect(t, s.do("GET", "/v1/users/me", tok, nil), 200)
	expect(t, s.do("PATCH", "/v1/users/me", tok, map[string]string{"password": newPW, "current_password": pw}), 200)
	expect(t, s.do("GET", "/v1/users/me", tok+"tampered", nil), 401)
	expect(t, s.do("GET", "/v1/products?cursor="+tok, tok, nil), 400)
	admin := s.login(adminEmail, adminPassword)
	expect(t, s.do("GET", "/v1/users", admin, nil), 200)

	logs := buf.String()
	if !strings.Contains(logs, `"route":"/v1/users/me"`) || !strings.Contains(logs, `"route":"/v1/auth/login"`) {
		t.Fatalf("the access log was not captured: %q", logs)
	}
	sig := tok[strings.LastIndex(tok, ".")+1:]
	for name, secret := range map[string]string{"password": pw, "wrong password": pw + "-wrong", "new password": newPW,
		"access token": tok, "token signature": sig, "admin token": admin, "admin password": adminPassword,
		"signing key": cfg.Auth.SigningKey, "bearer header": "Bearer "} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s reached the logs", name)
		}
	}
	if strings.Contains(strings.ToLower(logs), "authorization") || strings.Contains(logs, "argon2") {
		t.Errorf("logs mention authorization headers or password hashes: %s", logs)
	}
}
