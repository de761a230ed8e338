package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/ratelimit"
	"example.com/productapi/platform/resilience"
	"example.com/productapi/web"
)

// The console's and the docs page's files: right content types, the
// strict CSP, revalidation with a content ETag, a problem for a missing
// file.
func TestConsoleStaticFiles(t *testing.T) {
	s := newServer(t, sqliteStore) // static files do not depend on the store
	for path, ct := range map[string]string{
		"/admin/":            "text/html; charset=utf-8",
		"/admin/index.html":  "text/html; charset=utf-8",
		"/admin/app.js":      "text/javascript; charset=utf-8",
		"/admin/api.js":      "text/javascript; charset=utf-8",
		"/admin/console.css": "text/css; charset=utf-8",
		"/docs":              "text/html; charset=utf-8",
		"/docs/docs.js":      "text/javascript; charset=utf-8",
		"/docs/docs.css":     "text/css; charset=utf-8",
	} {
		r := s.do("GET", path, "", nil)
		expect(t, r, 200)
		if got := r.Header.Get("Content-Type"); got != ct {
			t.Errorf("%s: Content-Type %q, want %q", path, got, ct)
		}
		csp := web.ConsoleCSP
		if strings.HasPrefix(path, "/docs") {
			csp = web.DocsCSP
		}
		if got := r.Header.Get("Content-Security-Policy"); got != csp || !strings.Contains(got, "script-src 'self';") || strings.Contains(got, "unsafe-inline") {
			t.Errorf("%s: CSP %q", path, got)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", path, got)
		}
		etag := r.Header.Get("ETag")
		if etag == "" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: ETag %q, nosniff %q", path, etag, r.Header.Get("X-Content-Type-Options"))
		}
		if nm := s.do("GET", path, "", nil, "If-None-Match", etag); nm.Status != http.StatusNotModified || len(nm.Body) != 0 {
			t.Errorf("%s with If-None-Match: %d %q", path, nm.Status, nm.Body)
		}
		if m := s.do("GET", path, "", nil, "If-None-Match", `"other"`); m.Status != 200 {
			t.Errorf("%s with a stale If-None-Match: %d", path, m.Status)
		}
	}
	if page := string(s.do("GET", "/admin/", "", nil).Body); !strings.Contains(page, `<script type="module" src="/admin/app.js">`) {
		t.Errorf("/admin/ is not the console page: %.200s", page)
	}
	expect(t, s.do("GET", "/admin/nope.js", "", nil), 404)
	expect(t, s.do("GET", "/docs/nope.js", "", nil), 404)
	expect(t, s.do("GET", "/admin/../go.mod", "", nil), 404)

	// /admin (no slash) leads to the page.
	req, _ := http.NewRequest("GET", s.srv.URL+"/admin", nil)
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 3 || res.Header.Get("Location") != "/admin/" {
		t.Errorf("/admin: %d Location %q, want a redirect to /admin/", res.StatusCode, res.Header.Get("Location"))
	}
}

// GET /v1/admin/stats reflects this instance's own traffic, breakers and
// degraded modes.
func TestAdminStats(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		// Redis budgets a slow reply cannot overrun: the test expects its
		// breakers closed and nothing degraded but the kill switch.
		s := startServer(t, patientRedis(testConfig(t, kind)))
		admin := s.adminToken()
		pid := s.createProduct(admin, nil)["id"].(string)
		for range 3 {
			expect(t, s.do("GET", "/v1/products/"+pid, "", nil), 200)
		}
		expect(t, s.do("GET", "/v1/products/01J0000000000000000000000", "", nil), 404)
		s.switchFlag(admin, "orders.checkout_enabled", false)

		r := s.do("GET", "/v1/admin/stats", admin, nil)
		expect(t, r, 200)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("stats Cache-Control %q", r.Header.Get("Cache-Control"))
		}
		var st consoleStats
		if err := json.Unmarshal(r.Body, &st); err != nil {
			t.Fatal(err)
		}
		var product uint64
		for _, rt := range st.Routes {
			if rt.Method == "GET" && rt.Route == "/v1/products/:id" {
				product = rt.Requests
				if rt.ErrorRate != 0 || rt.P99Ms <= 0 || rt.P50Ms > rt.P99Ms {
					t.Errorf("product route: %+v", rt)
				}
			}
		}
		if product != 4 { // three 200s and a 404 (not an error)
			t.Fatalf("GET /v1/products/:id: %d requests in stats, want 4 (routes %+v)", product, st.Routes)
		}
		if st.Requests < 6 || st.RequestRate <= 0 || st.WindowSeconds <= 0 || st.ErrorRate == nil || *st.ErrorRate != 0 {
			t.Errorf("totals: %d requests, %v/s over %v s, error rate %v", st.Requests, st.RequestRate, st.WindowSeconds, st.ErrorRate)
		}
		if st.Status != "ok" || st.Checks["database"] != "ok" {
			t.Errorf("readiness in stats: %s %v", st.Status, st.Checks)
		}
		wantRedis := "none"
		if kind == postgresStore && s.app.redis != nil {
			wantRedis = "closed"
		}
		if st.Breakers["payment_provider"] != "closed" || st.Breakers["redis"] != wantRedis {
			t.Errorf("breakers %v, want payment closed and redis %s", st.Breakers, wantRedis)
		}
		if len(st.Degraded) != 1 || st.Degraded[0] != "flag orders.checkout_enabled: off" {
			t.Errorf("degraded %v, want the checkout kill switch", st.Degraded)
		}
		if st.Limiter.Limit <= 0 {
			t.Errorf("limiter %+v", st.Limiter)
		}
		levels := map[string]bool{}
		for _, c := range st.Cache {
			levels[c.Level] = true
		}
		if !levels["l1"] {
			t.Errorf("no l1 cache level in %+v", st.Cache)
		}
	})
}

// Every route of the real router declares its limits where it is
// registered (routemeta), and each is the one the API promises: the
// rate-limit group (credentials "auth", console sign-in "console",
// catalogue reads "catalogue", the rest "default") and the shedding class
// under overload (lists and admin reads first; the console's figures stay
// critical so its health view keeps working; probes and metrics never
// limited). A route registered around the table, or with other limits,
// fails here.
func TestEveryRouteDeclaresItsLimits(t *testing.T) {
	s := newServer(t, sqliteStore) // routes do not depend on the store
	type limits struct {
		group     string // "" is ratelimit.GroupDefault
		class     resilience.Class
		unlimited bool
	}
	var (
		write     = limits{}
		shed      = limits{class: resilience.Sheddable}
		credent   = limits{group: ratelimit.GroupAuth}
		signIn    = limits{group: ratelimit.GroupConsole}
		catalogue = limits{group: ratelimit.GroupCatalogue}
		ops       = limits{unlimited: true}
	)
	want := map[string]limits{
		"GET /livez": ops, "GET /readyz": ops, "GET /metrics": ops,
		"GET /openapi.yaml": write, "GET /openapi.json": write, "GET /docs": write, "GET /docs/:file": write,
		"GET /admin/*path":                   write,
		"POST /v1/console/login":             signIn,
		"POST /v1/console/mfa":               signIn,
		"POST /v1/console/refresh":           signIn,
		"POST /v1/console/logout":            signIn,
		"POST /ofrep/v1/evaluate/flags/:key": write,
		"POST /ofrep/v1/evaluate/flags":      write,

		"POST /v1/auth/register": credent,
		"POST /v1/auth/login":    credent,
		"POST /v1/auth/mfa":      credent,
		"POST /v1/auth/refresh":  credent,
		"POST /v1/auth/logout":   credent,
		"GET /v1/users/me":       write, "PATCH /v1/users/me": write, "DELETE /v1/users/me": write,
		"GET /v1/users/me/export": write, "GET /v1/users/:id": write,
		"POST /v1/users/me/mfa": write, "POST /v1/users/me/mfa/confirm": write, "DELETE /v1/users/me/mfa": write,
		"GET /v1/users": shed, "PATCH /v1/users/:id": write,

		"GET /v1/products":     {group: ratelimit.GroupCatalogue, class: resilience.Sheddable},
		"GET /v1/products/:id": catalogue,
		"POST /v1/products":    write, "PATCH /v1/products/:id": write, "DELETE /v1/products/:id": write,

		"POST /v1/orders": write, "GET /v1/orders": shed, "GET /v1/orders/:id": write,
		"POST /v1/orders/:id/cancel": write, "POST /v1/orders/:id/ship": write,
		"GET /v1/admin/reports/product-sales":          shed,
		"POST /v1/admin/reports/product-sales/rebuild": write,

		"GET /v1/admin/dead-letters": shed, "GET /v1/admin/dead-letters/:id": shed,
		"POST /v1/admin/dead-letters/:id/replay": write,
		"GET /v1/admin/flags":                    shed, "GET /v1/admin/flags/:key": shed, "PUT /v1/admin/flags/:key": write,
		"GET /v1/admin/audit": shed,
		"GET /v1/admin/stats": write,
	}
	seen := map[string]bool{}
	for _, r := range s.app.router.Routes() {
		route := r.Method + " " + r.Path
		seen[route] = true
		m, ok := s.app.routeMeta.Route(r.Method, r.Path)
		if !ok {
			t.Errorf("%s: registered without routemeta", route)
			continue
		}
		w, ok := want[route]
		if !ok {
			t.Errorf("%s: not in this test's table; add it with its limits", route)
			continue
		}
		if got := (limits{m.Group, m.Class, m.Unlimited}); got != w {
			t.Errorf("%s: limits %+v, want %+v", route, got, w)
		}
	}
	for route := range want {
		if !seen[route] {
			t.Errorf("%s: in the table but not registered", route)
		}
	}
}

// Console sign-ins have their own per-address budget (group "console"):
// login traffic that exhausts an address's auth quota does not lock the
// operator out, nor stop the console refreshing its session. A console
// login still counts against its target account in the auth group, so the
// route adds no guesses against any account; and it ignores Authorization
// (a bearer buys no fresh quota, a stale one is no 401).
func TestConsoleSignInBudget(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		cfg := strictLimits(testConfig(t, kind), 3, 1000, 1000)
		cfg.RateLimit.Groups.Console = config.RateLimitGroup{Limit: 3, Window: time.Minute}
		cfg.HTTP.TrustedProxies = []string{"127.0.0.1/32", "::1/128"} // X-Forwarded-For names the client
		s := startServer(t, cfg)
		from := func(addr string) []string { return []string{"X-Forwarded-For", addr} }
		adminLogin := map[string]string{"email": adminEmail, "password": adminPassword}

		// A brute force from the operator's address uses up its auth quota...
		const office = "203.0.113.10"
		for i := 0; i < 3; i++ {
			expect(t, s.do("POST", "/v1/auth/login", "", badLogin, from(office)...), 401)
		}
		expect(t, s.do("POST", "/v1/auth/login", "", adminLogin, from(office)...), 429)
		// ...the console signs in from there all the same, and refreshes.
		r := s.do("POST", "/v1/console/login", "not-a-valid-token", adminLogin, from(office)...)
		expect(t, r, 200)
		if g, rem, _ := rateState(t, r); g != "console" || rem != 2 {
			t.Fatalf("console login counted in %q (%d left), want console with 2 left", g, rem)
		}
		refreshed := s.do("POST", "/v1/console/refresh", "", map[string]string{"refresh_token": r.JSON(t)["refresh_token"].(string)}, from(office)...)
		expect(t, refreshed, 200)

		// The console group has a per-address limit of its own, which a
		// valid bearer (another account's) does not reset. (Guessed at an
		// account of its own: badLogin's account has spent its auth budget
		// in the brute force above.)
		otherGuess := map[string]string{"email": "someone-else@example.com", "password": "wrong-password-1"}
		expect(t, s.do("POST", "/v1/console/login", "", otherGuess, from(office)...), 401)
		_, customer := s.register("console-budget@example.com")
		limited := s.do("POST", "/v1/console/login", customer, otherGuess, from(office)...)
		expect(t, limited, 429)
		if g, _, _ := rateState(t, limited); g != "console" || limited.Header.Get("Retry-After") == "" {
			t.Fatalf("console quota used up: group %q, Retry-After %q", g, limited.Header.Get("Retry-After"))
		}

		// Guesses at one account from many addresses: the account's auth
		// budget (3) bounds them, whichever addresses they come from.
		victim := map[string]string{"email": "Victim@Example.com", "password": "guess-0001"}
		for i := 1; i <= 3; i++ {
			expect(t, s.do("POST", "/v1/console/login", "", victim, from(fmt.Sprintf("198.51.100.%d", i))...), 401)
		}
		victim["email"] = " victim@example.com" // the same account, however it is typed
		byAccount := s.do("POST", "/v1/console/login", "", victim, from("198.51.100.4")...)
		expect(t, byAccount, 429)
		if g, _, _ := rateState(t, byAccount); g != "auth" || byAccount.Header.Get("Retry-After") == "" {
			t.Fatalf("account budget used up: group %q, Retry-After %q", g, byAccount.Header.Get("Retry-After"))
		}
		// Another account from a fresh address is unaffected.
		expect(t, s.do("POST", "/v1/console/login", "", adminLogin, from("198.51.100.5")...), 200)
	})
}
