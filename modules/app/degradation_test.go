package app

import (
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/pgtest"

	"net/url"
	"strings"
	"testing"
	"time"

	"example.com/productapi/platform/testkit/netproxy"
)

// requirePostgres skips (or, under REQUIRE_POSTGRES=1, fails) a test that
// only makes sense against a real Postgres.
func requirePostgres(t *testing.T) { pgtest.Require(t) }

// The database disappears (a black hole: the worst case, connections hang
// rather than fail) and comes back. Cached reads keep answering, marked
// stale; writes and uncached reads answer 503 with Retry-After at once;
// /readyz says so; then the service heals without a restart.
func TestDatabaseOutageDegradesAndHeals(t *testing.T) {
	requirePostgres(t)
	cfg := testConfig(t, postgresStore)
	u, err := url.Parse(cfg.Database.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := netproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	cfg.Database.URL = u.String()
	cfg.Database.ProbeInterval = 100 * time.Millisecond
	cfg.Database.ProbeTimeout = 300 * time.Millisecond
	cfg.Cache.L1TTL = 300 * time.Millisecond // expire quickly so the outage read is a stale-if-error read
	cfg.Redis.URL = ""                       // L1 only: the stale copy must come from this process
	s := startServer(t, cfg)
	admin := s.adminToken()
	id := s.createProduct(admin, map[string]any{"name": "Survivor"})["id"].(string)
	time.Sleep(1500 * time.Millisecond)                      // well past the write's delayed second invalidation (500 ms)
	expect(t, s.do("GET", "/v1/products/"+id, "", nil), 200) // cached

	proxy.SetCut(true)
	testkit.Eventually(t, 5*time.Second, "readyz reports the database down", func() bool {
		r := s.do("GET", "/readyz", "", nil)
		return r.Status == 503 && strings.Contains(string(r.Body), `"database":"down"`)
	})
	time.Sleep(400 * time.Millisecond) // past the L1 TTL

	// Cached entity: still served, flagged stale.
	r := s.do("GET", "/v1/products/"+id, "", nil)
	expect(t, r, 200)
	if r.JSON(t)["name"] != "Survivor" || r.Header.Get("Warning") == "" || r.Header.Get("Age") == "" {
		t.Fatalf("stale read: %d %v %s", r.Status, r.Header, r.Body)
	}
	// Writes and uncached reads: a 503 problem with Retry-After, fast.
	for _, call := range []struct{ method, path string }{
		{"POST", "/v1/products"},
		{"PATCH", "/v1/products/" + id},
		{"GET", "/v1/products?category=never-cached"},
		{"GET", "/v1/users/me"},
	} {
		start := time.Now()
		var body any
		if call.method != "GET" {
			body = map[string]any{"name": "x", "sku": "OUT-1", "price_cents": 1, "currency": "EUR", "stock": 1}
		}
		if call.method == "PATCH" {
			body = map[string]any{"name": "x"}
		}
		r := s.do(call.method, call.path, admin, body)
		took := time.Since(start)
		expect(t, r, 503)
		t.Logf("%s %s took %s", call.method, call.path, took)
		if r.Header.Get("Retry-After") == "" || took > time.Second {
			t.Fatalf("%s %s: Retry-After %q after %s (want a fast 503)", call.method, call.path, r.Header.Get("Retry-After"), took)
		}
	}
	metrics := string(s.do("GET", "/metrics", "", nil).Body)
	if !strings.Contains(metrics, "dependency_up{dependency=\"database\"} 0") {
		t.Fatal("/metrics does not show the database down")
	}

	proxy.SetCut(false)
	testkit.Eventually(t, 10*time.Second, "service heals", func() bool {
		return s.do("GET", "/readyz", "", nil).Status == 200
	})
	patched := s.do("PATCH", "/v1/products/"+id, admin, map[string]any{"name": "Back"})
	expect(t, patched, 200)
	if got := s.do("GET", "/v1/products/"+id, "", nil).JSON(t)["name"]; got != "Back" {
		t.Fatalf("after recovery read %v", got)
	}
}
