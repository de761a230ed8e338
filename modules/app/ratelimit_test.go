package app

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/netproxy"
)

// generousRateLimits is what testConfig uses: no test outside this file
// comes near them.
var generousRateLimits = config.RateLimitGroups{
	Auth:      config.RateLimitGroup{Limit: 1_000_000, Window: time.Minute},
	Catalogue: config.RateLimitGroup{Limit: 1_000_000, Window: time.Minute},
	Default:   config.RateLimitGroup{Limit: 1_000_000, Window: time.Minute},
	Console:   config.RateLimitGroup{Limit: 1_000_000, Window: time.Minute},
}

// strictLimits gives a test its own small quotas (per minute).
func strictLimits(cfg config.Config, auth, catalogue, other int) config.Config {
	cfg.RateLimit.Groups = config.RateLimitGroups{
		Auth:      config.RateLimitGroup{Limit: auth, Window: time.Minute},
		Catalogue: config.RateLimitGroup{Limit: catalogue, Window: time.Minute},
		Default:   config.RateLimitGroup{Limit: other, Window: time.Minute},
		Console:   generousRateLimits.Console,
	}
	// These tests assert exact counts decided in Redis.
	return patientRedis(cfg)
}

// rateState parses `"<group>";r=<remaining>;t=<seconds>`.
func rateState(t *testing.T, r response) (group string, remaining, reset int) {
	t.Helper()
	v := r.Header.Get("RateLimit")
	if _, err := fmt.Sscanf(strings.ReplaceAll(v, ";", " "), "%s r=%d t=%d", &group, &remaining, &reset); err != nil {
		t.Fatalf("RateLimit %q (status %d): %v", v, r.Status, err)
	}
	return strings.Trim(group, `"`), remaining, reset
}

var badLogin = map[string]string{"email": "nobody@example.com", "password": "wrong-password-1"}

// Limited routes carry the policy and the quota left; past the quota a
// 429 problem with Retry-After, valid against the OpenAPI document.
// Operational routes are never limited. The auth group is the strict one:
// a login brute force is stopped at its limit, right password or not.
func TestRateLimitHeadersAnd429(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := startServer(t, strictLimits(testConfig(t, kind), 3, 5, 1000))
		oa := &oaClient{t: t, s: s, contract: loadOpenAPIContract(t), successes: map[string]int{}}
		for i := 0; i < 5; i++ {
			r := oa.do(200, "GET", "/v1/products", "", nil)
			if got := r.Header.Get("RateLimit-Policy"); got != `"catalogue";q=5;w=60` {
				t.Fatalf("RateLimit-Policy %q", got)
			}
			if g, rem, reset := rateState(t, r); g != "catalogue" || rem != 4-i || reset < 1 || reset > 60 {
				t.Fatalf("request %d: RateLimit %q", i+1, r.Header.Get("RateLimit"))
			}
		}
		r := oa.do(429, "GET", "/v1/products", "", nil)
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Fatalf("429 Retry-After %q", r.Header.Get("Retry-After"))
		}
		if _, rem, _ := rateState(t, r); rem != 0 {
			t.Fatalf("429 with %d remaining", rem)
		}
		if p := r.JSON(t); p["type"] != "https://productapi.example/problems/rate_limited" || p["status"] != float64(429) {
			t.Fatalf("429 problem %s", r.Body)
		}
		oa.do(429, "GET", "/v1/products/0193a0b0-0000-7000-8000-000000000000", "", nil) // the whole group
		for _, path := range []string{"/livez", "/readyz", "/metrics", "/openapi.yaml", "/openapi.json", "/docs"} {
			r := s.do("GET", path, "", nil)
			if r.Status != 200 || r.Header.Get("RateLimit") != "" {
				t.Fatalf("%s: %d, RateLimit %q: operational routes are never limited", path, r.Status, r.Header.Get("RateLimit"))
			}
		}

		// Brute force on login: three wrong passwords, then 429 even for
		// the right one.
		for i := 0; i < 3; i++ {
			r := oa.do(401, "POST", "/v1/auth/login", "", badLogin)
			if g, rem, _ := rateState(t, r); g != "auth" || rem != 2-i {
				t.Fatalf("login %d: RateLimit %q", i+1, r.Header.Get("RateLimit"))
			}
		}
		oa.do(429, "POST", "/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword})
		oa.do(429, "POST", "/v1/auth/register", "", map[string]string{"email": "late@example.com", "password": "customer-pass-1", "name": "Late"})
		if m := s.do("GET", "/metrics", "", nil); !strings.Contains(string(m.Body), `ratelimit_decisions_total{group="auth",outcome="limited"} 2`) {
			t.Fatalf("metrics lack the auth refusals:\n%s", grepLines(string(m.Body), "ratelimit_"))
		}
	})
}

// Authenticated callers are limited per user, anonymous ones per IP: one
// user spending its quota takes nothing from another user or from
// anonymous requests of the same address.
func TestRateLimitKeyedByUserElseIP(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := startServer(t, strictLimits(testConfig(t, kind), 10, 1000, 3))
		_, ann := s.register("ann@example.com")
		_, bob := s.register("bob@example.com")
		for i := 0; i < 3; i++ {
			expect(t, s.do("GET", "/v1/users/me", ann, nil), 200)
		}
		expect(t, s.do("GET", "/v1/users/me", ann, nil), 429)
		r := s.do("GET", "/v1/users/me", bob, nil)
		expect(t, r, 200)
		if _, rem, _ := rateState(t, r); rem != 2 {
			t.Fatalf("bob's first request shows %d remaining, want 2: quotas are per user", rem)
		}
		r = s.do("GET", "/v1/orders", "", nil) // anonymous: 401, but counted per IP
		expect(t, r, 401)
		if _, rem, _ := rateState(t, r); rem != 2 {
			t.Fatalf("anonymous request shows %d remaining, want 2: anonymous callers are keyed by IP", rem)
		}
		// A new token for ann is still ann.
		expect(t, s.do("GET", "/v1/users/me", s.login("ann@example.com", "customer-pass-1"), nil), 429)
	})
}

// X-Forwarded-For is believed only from http.trusted_proxies: from anyone
// else it cannot buy a fresh quota; behind a trusted proxy each client has
// its own, and a spoofed left-most entry does not help either.
func TestRateLimitForwardedForOnlyFromTrustedProxies(t *testing.T) {
	t.Run("untrusted peer", func(t *testing.T) {
		s := startServer(t, strictLimits(testConfig(t, sqliteStore), 2, 1000, 1000))
		expect(t, s.do("POST", "/v1/auth/login", "", badLogin, "X-Forwarded-For", "203.0.113.1"), 401)
		expect(t, s.do("POST", "/v1/auth/login", "", badLogin, "X-Forwarded-For", "203.0.113.2"), 401)
		expect(t, s.do("POST", "/v1/auth/login", "", badLogin, "X-Forwarded-For", "203.0.113.3"), 429)
		expect(t, s.do("POST", "/v1/auth/login", "", badLogin, "X-Real-IP", "203.0.113.4"), 429)
	})
	t.Run("trusted proxy", func(t *testing.T) {
		cfg := strictLimits(testConfig(t, sqliteStore), 2, 1000, 1000)
		cfg.HTTP.TrustedProxies = []string{"127.0.0.1/32", "::1/128"}
		s := startServer(t, cfg)
		for i := 0; i < 2; i++ {
			expect(t, s.do("POST", "/v1/auth/login", "", badLogin, "X-Forwarded-For", "203.0.113.1"), 401)
		}
		expect(t, s.do("POST", "/v1/auth/login", "", badLogin, "X-Forwarded-For", "203.0.113.1"), 429)
		// The client forged a left-most entry; the proxy appended the real one.
		expect(t, s.do("POST", "/v1/auth/login", "", badLogin, "X-Forwarded-For", "198.51.100.7, 203.0.113.1"), 429)
		// Another client behind the same proxy has its own quota (guessing
		// at another account: nobody@'s own quota is spent too).
		r := s.do("POST", "/v1/auth/login", "", map[string]string{"email": "nobody2@example.com", "password": "wrong-password-1"},
			"X-Forwarded-For", "203.0.113.2")
		expect(t, r, 401)
		if _, rem, _ := rateState(t, r); rem != 1 {
			t.Fatalf("second client behind the proxy: %d remaining, want 1", rem)
		}
	})
}

// grepLines keeps the lines of s containing sub (readable failures).
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Two instances sharing Redis enforce one limit: a login brute force
// spread over both is stopped at the limit, not at twice it.
func TestRateLimitIsGlobalAcrossInstances(t *testing.T) {
	requirePostgres(t)
	cfg := strictLimits(testConfig(t, postgresStore), 5, 1000, 1000)
	if cfg.Redis.URL == "" {
		t.Fatal("the shared limit needs TEST_REDIS_URL")
	}
	a, b := startServer(t, cfg), startServer(t, cfg)
	tried := 0
	for i := 0; i < 20; i++ {
		s := []*testServer{a, b}[i%2]
		r := s.do("POST", "/v1/auth/login", "", badLogin)
		switch r.Status {
		case 401:
			tried++
		case 429:
		default:
			t.Fatalf("attempt %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	if tried != 5 {
		t.Fatalf("%d password guesses got through two instances, want the global limit 5", tried)
	}
}

// Redis disappears (a black hole) under a limited route: zero failed
// requests, limiting goes on per instance, /metrics and /readyz say so,
// and the shared limit is back once Redis answers.
func TestRateLimitFallsBackToLocalWhenRedisIsCut(t *testing.T) {
	requirePostgres(t)
	cfg := strictLimits(testConfig(t, postgresStore), 1000, 5, 1000)
	u, err := url.Parse(cfg.Redis.URL)
	if err != nil || u.Host == "" {
		t.Fatalf("the fallback test needs TEST_REDIS_URL (%q)", cfg.Redis.URL)
	}
	proxy := netproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	cfg.Redis.URL = u.String()
	s := startServer(t, cfg)
	backend := func() string {
		m := string(s.do("GET", "/metrics", "", nil).Body)
		switch {
		case strings.Contains(m, `ratelimit_backend{mode="redis"} 1`):
			return "redis"
		case strings.Contains(m, `ratelimit_backend{mode="local"} 1`):
			return "local"
		}
		t.Fatalf("no ratelimit_backend gauge:\n%s", grepLines(m, "ratelimit_"))
		return ""
	}
	for i := 0; i < 2; i++ {
		expect(t, s.do("GET", "/v1/products", "", nil), 200)
	}
	if backend() != "redis" {
		t.Fatal("not deciding in Redis before the outage")
	}

	proxy.SetCut(true)
	ok, limited := 0, 0
	for i := 0; i < 20; i++ {
		r := s.do("GET", "/v1/products", "", nil)
		switch r.Status {
		case 200:
			ok++
		case 429:
			limited++
		default:
			t.Fatalf("redis cut: request %d answered %d: %s", i+1, r.Status, r.Body)
		}
		if r.Header.Get("RateLimit") == "" {
			t.Fatal("redis cut: response without RateLimit")
		}
	}
	if ok != 5 || limited != 15 {
		t.Fatalf("redis cut: %d admitted, %d limited; want the local limit 5 and 15 refusals", ok, limited)
	}
	if backend() != "local" {
		t.Fatal("redis cut: ratelimit_backend does not say local")
	}
	if rep := s.do("GET", "/readyz", "", nil).JSON(t); rep["checks"].(map[string]any)["ratelimit"] != "degraded" {
		t.Fatalf("redis cut: readyz %v", rep)
	}

	proxy.SetCut(false)
	testkit.Eventually(t, 10*time.Second, "the limiter goes back to Redis", func() bool {
		s.do("GET", "/v1/products", "", nil) // the breaker's probe
		return backend() == "redis"
	})
	if rep := s.do("GET", "/readyz", "", nil).JSON(t); rep["checks"].(map[string]any)["ratelimit"] != "ok" {
		t.Fatalf("redis back: readyz %v", rep)
	}
	// Back on the shared log, which still holds the two admissions from
	// before the outage plus the probes: the client is refused again
	// within the limit.
	limited = 0
	for i := 0; i < 5; i++ {
		switch r := s.do("GET", "/v1/products", "", nil); r.Status {
		case 200:
		case 429:
			limited++
		default:
			t.Fatalf("redis back: %d %s", r.Status, r.Body)
		}
	}
	if limited == 0 {
		t.Fatal("redis back: 5 more requests admitted although the shared log already held at least 3")
	}
}

// The ratelimit.enabled flag switches limiting off and on at runtime; the
// config switch turns it off for good.
func TestRateLimitSwitchedOff(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := startServer(t, strictLimits(testConfig(t, kind), 1000, 2, 1000))
		admin := s.adminToken()
		for i := 0; i < 2; i++ {
			expect(t, s.do("GET", "/v1/products", "", nil), 200)
		}
		expect(t, s.do("GET", "/v1/products", "", nil), 429)
		s.switchFlag(admin, "ratelimit.enabled", false)
		for i := 0; i < 10; i++ {
			r := s.do("GET", "/v1/products", "", nil)
			expect(t, r, 200)
			if r.Header.Get("RateLimit") != "" {
				t.Fatal("flag off: RateLimit still sent")
			}
		}
		s.switchFlag(admin, "ratelimit.enabled", true)
		expect(t, s.do("GET", "/v1/products", "", nil), 429)
	})
	t.Run("config", func(t *testing.T) {
		cfg := strictLimits(testConfig(t, sqliteStore), 1, 1, 1)
		cfg.RateLimit.Enabled = false
		s := startServer(t, cfg)
		for i := 0; i < 5; i++ {
			r := s.do("GET", "/v1/products", "", nil)
			expect(t, r, 200)
			if r.Header.Get("RateLimit") != "" {
				t.Fatal("disabled by config: RateLimit still sent")
			}
		}
	})
}
