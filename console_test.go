package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/resilience"
	"example.com/productapi/web"
)

// The console's files: right content types, the strict CSP, revalidation
// with a content ETag, a problem for a missing file.
func TestConsoleStaticFiles(t *testing.T) {
	s := newServer(t, sqliteStore) // static files do not depend on the store
	for path, ct := range map[string]string{
		"/admin/":            "text/html; charset=utf-8",
		"/admin/index.html":  "text/html; charset=utf-8",
		"/admin/app.js":      "text/javascript; charset=utf-8",
		"/admin/api.js":      "text/javascript; charset=utf-8",
		"/admin/console.css": "text/css; charset=utf-8",
	} {
		r := s.do("GET", path, "", nil)
		expect(t, r, 200)
		if got := r.Header.Get("Content-Type"); got != ct {
			t.Errorf("%s: Content-Type %q, want %q", path, got, ct)
		}
		if got := r.Header.Get("Content-Security-Policy"); got != web.ConsoleCSP || !strings.Contains(got, "script-src 'self'") {
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

// Under overload the console's health view keeps working: its endpoint is
// limited like a write, not shed first like the other admin reads.
func TestAdminStatsIsNotShedFirst(t *testing.T) {
	r := gin.New()
	classes := map[string]resilience.Class{}
	for _, route := range []string{"/v1/admin/stats", "/v1/admin/audit"} {
		r.GET(route, func(c *gin.Context) {
			class, limited := requestClass(c)
			if !limited {
				t.Errorf("%s is not limited", route)
			}
			classes[route] = class
		})
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", route, nil))
	}
	if classes["/v1/admin/stats"] != resilience.Critical || classes["/v1/admin/audit"] != resilience.Sheddable {
		t.Errorf("classes %v: want stats critical, audit sheddable", classes)
	}
}
