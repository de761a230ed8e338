package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/server"
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/netproxy"
)

// drainingServer runs one instance the way serve does: build and
// ServeDrain share the "signal" context, which signal cancels (SIGTERM).
// The drain delay is long; the test's cleanup ends it by closing the server.
type drainingServer struct {
	*testServer
	signal context.CancelFunc
}

func startDraining(t *testing.T, cfg config.Config) *drainingServer {
	t.Helper()
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sigCtx, signal := context.WithCancel(context.Background())
	app, err := New(sigCtx, cfg, log)
	if err != nil {
		signal()
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(cfg.HTTP, app.router, log)
	done := make(chan error, 1)
	go func() {
		done <- server.ServeDrain(sigCtx, srv, ln, &app.ready, server.Drain{Delay: time.Minute, Timeout: 5 * time.Second}, log)
	}()
	t.Cleanup(func() {
		signal()
		_ = srv.Close() // ends the drain delay early
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeDrain: %v", err)
		}
		app.Close()
	})
	// The harness's do only reads srv.URL; ServeDrain owns the listener.
	ts := &testServer{t: t, app: app, srv: &httptest.Server{URL: "http://" + ln.Addr().String()}, log: logs}
	return &drainingServer{testServer: ts, signal: signal}
}

// Cache invalidation keeps working during the drain: after SIGTERM an
// instance keeps serving for shutdown_delay, so its invalidation
// subscription must live as long as the application, not the signal.
func TestCacheInvalidationSurvivesDrain(t *testing.T) {
	requirePostgres(t)
	if os.Getenv("TEST_REDIS_URL") == "" {
		t.Fatal("needs TEST_REDIS_URL next to TEST_DATABASE_URL") // never a silent skip
	}
	cfg := testConfig(t, postgresStore)
	cfg.Cache.InvalidationAckTimeout = 5 * time.Second // a loaded machine must not turn a slow ack into a flake
	a := startServer(t, cfg)
	b := startDraining(t, cfg)
	admin := a.adminToken()
	id := a.createProduct(admin, map[string]any{"name": "Before"})["id"].(string)
	if got := b.do("GET", "/v1/products/"+id, "", nil).JSON(t)["name"]; got != "Before" {
		t.Fatalf("warm: %v", got)
	}

	b.signal() // SIGTERM: B turns unready and keeps serving
	testkit.Eventually(t, 10*time.Second, "B to start draining", func() bool {
		return b.do("GET", "/readyz", "", nil).Status == http.StatusServiceUnavailable
	})
	// Several writes spread over the drain: the first could beat the
	// teardown of a subscription bound to the signal, the later ones not.
	for i := range 5 {
		name := fmt.Sprintf("During drain %d", i)
		expect(t, a.do("PATCH", "/v1/products/"+id, admin, map[string]any{"name": name}), 200)
		// No polling: the write waited for B's acknowledgement.
		r := b.do("GET", "/v1/products/"+id, "", nil)
		expect(t, r, 200)
		if got := r.JSON(t)["name"]; got != name {
			t.Fatalf("draining instance served %v after write %d was acknowledged", got, i)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The kill switch cannot be turned into strings: a boolean flag refuses
// variants of another type (422 naming variants) and keeps serving
// booleans; a PUT without metadata keeps the description.
func TestKillSwitchKeepsItsType(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		path := "/v1/admin/flags/orders.checkout_enabled"
		desc := s.do("GET", path, admin, nil).JSON(t)["metadata"].(map[string]any)["description"]
		if desc == nil || desc == "" {
			t.Fatal("precondition: the seeded flag has a description")
		}
		for _, body := range []string{
			`{"state":"ENABLED","variants":{"on":"yes","off":"no"},"defaultVariant":"off"}`,
			`{"state":"ENABLED","variants":{"on":true,"off":"no"},"defaultVariant":"off"}`,
			`{"state":"ENABLED","variants":{"on":1,"off":0},"defaultVariant":"off"}`,
		} {
			r := s.do("PUT", path, admin, body)
			expect(t, r, http.StatusUnprocessableEntity)
			named := false
			for _, e := range r.JSON(t)["errors"].([]any) {
				if e.(map[string]any)["field"] == "variants" {
					named = true
				}
			}
			if !named {
				t.Fatalf("%s: problem does not name variants: %s", body, r.Body)
			}
		}
		ev := s.do("POST", "/ofrep/v1/evaluate/flags/orders.checkout_enabled", "", map[string]any{"context": map[string]any{}})
		expect(t, ev, 200)
		if v := ev.JSON(t)["value"]; v != true {
			t.Fatalf("OFREP serves %v after refused PUTs", v)
		}
		// The same type goes through, switches checkout off and keeps the description.
		r := s.do("PUT", path, admin, `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`)
		expect(t, r, 200)
		if got := r.JSON(t)["metadata"].(map[string]any)["description"]; got != desc {
			t.Fatalf("description after a PUT without metadata: %v, want %v", got, desc)
		}
		_, customer := s.register("kill-switch@example.com")
		order := s.do("POST", "/v1/orders", customer, map[string]any{"items": []any{}}, "Idempotency-Key", "kill-switch-type-1")
		expect(t, order, http.StatusServiceUnavailable)
	})
}

// A replay is not a new checkout: with checkout switched off the same
// Idempotency-Key and body still get the stored 201; a new key gets the
// 503 with Retry-After, another body under the old key its 422.
func TestIdempotentReplayWhileCheckoutIsOff(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		pid := s.createProduct(admin, map[string]any{"stock": 10})["id"].(string)
		_, customer := s.register("replay-off@example.com")
		body := map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 1}}}
		first := s.do("POST", "/v1/orders", customer, body, "Idempotency-Key", "replay-off-1")
		expect(t, first, 201)

		flag := "/v1/admin/flags/orders.checkout_enabled"
		expect(t, s.do("PUT", flag, admin, `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`), 200)
		replay := s.do("POST", "/v1/orders", customer, body, "Idempotency-Key", "replay-off-1")
		expect(t, replay, 201)
		if string(replay.Body) != string(first.Body) || replay.Header.Get("Idempotent-Replayed") != "true" ||
			replay.Header.Get("Location") != first.Header.Get("Location") {
			t.Fatalf("replay while off: %s %v, want %s", replay.Body, replay.Header, first.Body)
		}
		fresh := s.do("POST", "/v1/orders", customer, body, "Idempotency-Key", "replay-off-2")
		expect(t, fresh, http.StatusServiceUnavailable)
		if fresh.Header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
		// The same key from another caller is that caller's new checkout.
		_, other := s.register("replay-off-other@example.com")
		expect(t, s.do("POST", "/v1/orders", other, body, "Idempotency-Key", "replay-off-1"), http.StatusServiceUnavailable)
		// Malformed requests while off are the 503 too, as before.
		expect(t, s.do("POST", "/v1/orders", customer, body), http.StatusServiceUnavailable)
		other2 := map[string]any{"items": []any{map[string]any{"product_id": pid, "quantity": 2}}}
		expect(t, s.do("POST", "/v1/orders", customer, other2, "Idempotency-Key", "replay-off-1"), http.StatusUnprocessableEntity)

		// Back on: the new key places its order.
		expect(t, s.do("PUT", flag, admin, `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`), 200)
		expect(t, s.do("POST", "/v1/orders", customer, body, "Idempotency-Key", "replay-off-2"), 201)
	})
}

// Two instances learn from Redis that they are two; when Redis is cut
// each limits to its share, so a login brute force spread over both gets
// the limit through, not twice it.
func TestRateLimitSharesTheLimitWhenRedisIsCut(t *testing.T) {
	requirePostgres(t)
	cfg := testConfig(t, postgresStore)
	// An hour's window: however slowly the requests below go while Redis
	// times out, no admission leaves it. Production's short Redis budgets
	// (not patientRedis): every decision below is local anyway.
	cfg.RateLimit.Groups.Auth = config.RateLimitGroup{Limit: 10, Window: time.Hour}
	u, err := url.Parse(cfg.Redis.URL)
	if err != nil || u.Host == "" {
		t.Fatalf("needs TEST_REDIS_URL (%q)", cfg.Redis.URL)
	}
	proxy := netproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	cfg.Redis.URL = u.String()
	cfg.RateLimit.InstanceHeartbeat = 100 * time.Millisecond
	a, b := startServer(t, cfg), startServer(t, cfg)
	for _, s := range []*testServer{a, b} {
		testkit.Eventually(t, 10*time.Second, "both instances count two", func() bool {
			return strings.Contains(string(s.do("GET", "/metrics", "", nil).Body), "\nratelimit_instances 2\n")
		})
	}

	proxy.SetCut(true)
	tried := 0
	for i := range 40 {
		switch r := []*testServer{a, b}[i%2].do("POST", "/v1/auth/login", "", badLogin); r.Status {
		case 401:
			tried++
		case 429:
		default:
			t.Fatalf("attempt %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	if tried != 10 {
		t.Fatalf("redis cut: %d password guesses got through two instances, want each one's share 5, together the limit 10", tried)
	}
}
