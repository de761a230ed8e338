package app

// OWASP API Security Top 10 (2023), one subtest per risk, each asserting
// the service's real behaviour on both stores. Where another test already
// covers a risk in depth it is named, and a focused check runs here too.

import (
	"encoding/base64"
	"encoding/json"
	"example.com/productapi/platform/config"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/ids"
)

// adminOnlyOutsideAdmin are the admin-only operations that do not live
// under /v1/admin. Every route under /v1/admin is found in the router.
var adminOnlyOutsideAdmin = []string{
	"POST /v1/products", "PATCH /v1/products/:id", "DELETE /v1/products/:id",
	"GET /v1/users", "PATCH /v1/users/:id", "POST /v1/orders/:id/ship",
}

// concretePath fills a gin route's parameters with plausible values.
func concretePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		switch {
		case s == ":key":
			parts[i] = "orders.checkout_enabled"
		case strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*"):
			parts[i] = ids.New()
		}
	}
	return strings.Join(parts, "/")
}

// withoutVolatile drops what differs between two otherwise equal problems.
func withoutVolatile(t *testing.T, r response) string {
	t.Helper()
	m := r.JSON(t)
	delete(m, "request_id")
	b, _ := json.Marshal(m)
	return string(b)
}

func TestOWASPAPITop10(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		aID, a := s.register("owasp-a@example.com")
		bID, b := s.register("owasp-b@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 50, "price_cents": 1000})["id"].(string)
		placed := s.placeOrder(a, "a-1", orderLine{p, 1})
		expect(t, placed, 201)
		aOrder := placed.JSON(t)["id"].(string)

		t.Run("API1 broken object level authorization", func(t *testing.T) {
			for _, r := range []response{
				s.do("GET", "/v1/orders/"+aOrder, b, nil),
				s.do("POST", "/v1/orders/"+aOrder+"/cancel", b, nil),
				s.do("GET", "/v1/users/"+aID, b, nil),
				s.do("GET", "/v1/users/"+aID+"/export", b, nil),
				s.do("GET", "/v1/orders/"+ids.New(), b, nil), // unknown looks the same as foreign
			} {
				expect(t, r, 404)
			}
			// Filters narrow, never widen: B asking for A's orders gets none.
			if l := s.do("GET", "/v1/orders?user_id="+aID, b, nil).JSON(t)["data"].([]any); len(l) != 0 {
				t.Errorf("customer B listed A's orders: %v", l)
			}
			// A's order is untouched by B's attempts.
			if o := s.order(a, aOrder); o["status"] == "cancelled" {
				t.Errorf("B cancelled A's order")
			}
			expect(t, s.do("GET", "/v1/users/"+bID, b, nil), 200)
		})

		t.Run("API2 broken authentication", func(t *testing.T) {
			key := []byte(testConfig(t, sqliteStore).Auth.SigningKey)
			expired, _ := auth.NewTokens(key, "productapi", -time.Minute).Issue(aID, auth.RoleCustomer)
			otherKey, _ := auth.NewTokens([]byte(strings.Repeat("k", 40)), "productapi", time.Minute).Issue(aID, auth.RoleAdmin)
			otherIssuer, _ := auth.NewTokens(key, "someone-else", time.Minute).Issue(aID, auth.RoleAdmin)
			none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": aID, "role": "admin", "iss": "productapi",
				"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
			parts := strings.Split(a, ".")
			payload, _ := json.Marshal(map[string]any{"sub": aID, "role": "admin", "iss": "productapi", "exp": time.Now().Add(time.Hour).Unix()})
			roleEdited := parts[0] + "." + base64URL(payload) + "." + parts[2]
			for name, h := range map[string]string{
				"expired": "Bearer " + expired, "signed with another key": "Bearer " + otherKey, "another issuer": "Bearer " + otherIssuer,
				"alg none": "Bearer " + none, "payload edited to admin": "Bearer " + roleEdited, "malformed": "Bearer abc.def",
				"empty bearer": "Bearer ", "basic scheme": "Basic " + base64URL([]byte("admin@example.com:admin-password-1")),
				"token without scheme": a,
			} {
				r := s.do("GET", "/v1/users/me", "", nil, "Authorization", h)
				if r.Status != 401 {
					t.Errorf("%s: status %d", name, r.Status)
					continue
				}
				checkProblem(t, r)
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q", name, r.Header.Get("WWW-Authenticate"))
				}
			}
			// A bad token is refused even on a public route.
			expect(t, s.do("GET", "/v1/products", "", nil, "Authorization", "Bearer "+expired), 401)
			// Wrong email and wrong password are indistinguishable.
			wrongPW := s.do("POST", "/v1/auth/login", "", map[string]string{"email": "owasp-a@example.com", "password": "not-the-password"})
			wrongEmail := s.do("POST", "/v1/auth/login", "", map[string]string{"email": "nobody-here@example.com", "password": "not-the-password"})
			expect(t, wrongPW, 401)
			expect(t, wrongEmail, 401)
			if x, y := withoutVolatile(t, wrongPW), withoutVolatile(t, wrongEmail); x != y {
				t.Errorf("login answers differ:\n%s\n%s", x, y)
			}
		})

		t.Run("API3 broken object property level authorization", func(t *testing.T) {
			for _, body := range []map[string]any{{"role": "admin"}, {"name": "x", "role": "admin"}, {"id": ids.New()},
				{"created_at": "2000-01-01T00:00:00Z"}, {"password_hash": "x"}} {
				expect(t, s.do("PATCH", "/v1/users/me", b, body), 400)
			}
			expect(t, s.do("POST", "/v1/auth/register", "", map[string]any{"email": "mallory@example.com", "password": "mallory-pass-1",
				"name": "M", "role": "admin"}), 400)
			if me := s.do("GET", "/v1/users/me", b, nil).JSON(t); me["role"] != "customer" || me["id"] != bID {
				t.Errorf("B after the attempts: %v", me)
			}
			expect(t, s.do("GET", "/v1/users", b, nil), 403)
			// Clients cannot set server-owned order properties either.
			expect(t, s.do("POST", "/v1/orders", b, map[string]any{"items": []map[string]any{{"product_id": p, "quantity": 1, "unit_price_cents": 1}}},
				"Idempotency-Key", "price-1"), 400)
			expect(t, s.do("POST", "/v1/orders", b, map[string]any{"items": []orderLine{{p, 1}}, "user_id": aID}, "Idempotency-Key", "owner-1"), 400)
			// No response ever carries a password hash.
			for _, r := range []response{
				s.do("GET", "/v1/users/me", a, nil), s.do("GET", "/v1/users?limit=100", admin, nil),
				s.do("GET", "/v1/users/"+aID, admin, nil), s.do("GET", "/v1/users/me/export", a, nil),
				s.do("PATCH", "/v1/users/me", a, map[string]string{"name": "A"}),
				s.do("POST", "/v1/auth/register", "", map[string]string{"email": "owasp-c@example.com", "password": "customer-pass-1", "name": "C"}),
			} {
				if r.Status >= 300 {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				low := strings.ToLower(string(r.Body))
				if strings.Contains(low, "password") || strings.Contains(low, "argon2") {
					t.Errorf("response carries a password field or hash: %s", r.Body)
				}
			}
		})

		t.Run("API4 unrestricted resource consumption", func(t *testing.T) {
			big := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
			expect(t, s.do("PATCH", "/v1/users/me", a, big), 413)
			expect(t, s.do("POST", "/v1/products", admin, big), 413)
			expect(t, s.do("GET", "/v1/products?limit=101", "", nil), 400)
			expect(t, s.do("GET", "/v1/orders?limit=1000000", a, nil), 400)
			expect(t, s.do("GET", "/v1/users?limit=0", admin, nil), 400)
			fields := strings.Repeat("id,name,", 200)
			expect(t, s.do("GET", "/v1/products?fields="+fields+"id", "", nil), 400)
			expect(t, s.do("GET", "/v1/products?fields=id,name,price_cents", "", nil), 200)
			expect(t, s.do("GET", "/v1/products?q="+strings.Repeat("a", 500), "", nil), 400)
			// An order is bounded too (lines and quantities); see TestCheckoutValidation.
			many := make([]orderLine, 51)
			for i := range many {
				many[i] = orderLine{p, 1}
			}
			r := s.placeOrder(a, "many-lines", many...)
			if r.Status != 400 && r.Status != 422 {
				t.Errorf("51 order lines: status %d", r.Status)
			}
			// Request headers are bounded by http.max_header_bytes: TestMaxHeaderBytes.

			// Requests are bounded per caller: a password-guessing loop is
			// refused (429 + Retry-After) once the auth group's limit is
			// spent, even when it finally sends the right password. Across
			// instances and through Redis outages: ratelimit_test.go.
			cfg := testConfig(t, kind)
			cfg.RateLimit.Groups.Auth = config.RateLimitGroup{Limit: 3, Window: time.Minute}
			limited := startServer(t, cfg)
			for i := 0; i < 3; i++ {
				expect(t, limited.do("POST", "/v1/auth/login", "", map[string]string{"email": adminEmail, "password": fmt.Sprint("guess-", i)}), 401)
			}
			r = limited.do("POST", "/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword})
			expect(t, r, 429)
			if r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit") == "" {
				t.Errorf("429 without Retry-After or RateLimit: %v", r.Header)
			}
		})

		t.Run("API5 broken function level authorization", func(t *testing.T) {
			routes := map[string]bool{}
			var targets []string
			for _, r := range s.app.router.Routes() {
				key := r.Method + " " + r.Path
				routes[key] = true
				if strings.HasPrefix(r.Path, "/v1/admin/") {
					targets = append(targets, key)
				}
			}
			if len(targets) < 5 {
				t.Fatalf("only %d routes under /v1/admin: %v", len(targets), targets)
			}
			for _, key := range adminOnlyOutsideAdmin {
				if !routes[key] {
					t.Errorf("admin-only route %s is not registered: update adminOnlyOutsideAdmin", key)
				}
				targets = append(targets, key)
			}
			for _, key := range targets {
				method, path, _ := strings.Cut(key, " ")
				target := concretePath(path)
				var body any
				if method != "GET" && method != "DELETE" {
					body = map[string]any{}
				}
				if r := s.do(method, target, b, body); r.Status != 403 {
					t.Errorf("customer %s %s: status %d, want 403", method, target, r.Status)
				} else {
					checkProblem(t, r)
				}
				if r := s.do(method, target, "", body); r.Status != 401 {
					t.Errorf("anonymous %s %s: status %d, want 401", method, target, r.Status)
				}
			}
		})

		t.Run("API6 unrestricted access to sensitive business flows", func(t *testing.T) {
			// Checkout idempotency cannot be abused: a replay returns the
			// same order, another body under the same key is refused, and a
			// key is scoped to its user (B's use of A's key is B's order).
			first := s.placeOrder(a, "k-abuse", orderLine{p, 2})
			expect(t, first, 201)
			again := s.placeOrder(a, "k-abuse", orderLine{p, 2})
			expect(t, again, 201)
			if first.JSON(t)["id"] != again.JSON(t)["id"] {
				t.Errorf("replay created another order")
			}
			expect(t, s.placeOrder(a, "k-abuse", orderLine{p, 3}), 422)
			other := s.placeOrder(b, "k-abuse", orderLine{p, 2})
			expect(t, other, 201)
			if o := other.JSON(t); o["id"] == first.JSON(t)["id"] || o["user_id"] != bID {
				t.Errorf("B got A's order through A's key: %v", o)
			}
			expect(t, s.do("POST", "/v1/orders", a, orderBody(orderLine{p, 1})), 400) // no key
			// Stock cannot be hoarded beyond what exists.
			expect(t, s.placeOrder(a, "hoard", orderLine{p, 1000}), 409)
			// Details: TestIdempotencyKeys, TestCheckoutNeverOversells.
		})

		t.Run("API8 security misconfiguration", func(t *testing.T) {
			for _, r := range []response{s.do("GET", "/v1/products", "", nil), s.do("GET", "/v1/nowhere", "", nil),
				s.do("POST", "/v1/auth/login", "", `{"email":`)} {
				for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
					"Referrer-Policy": "no-referrer"} {
					if got := r.Header.Get(h); got != want {
						t.Errorf("%s = %q, want %q (status %d)", h, got, want, r.Status)
					}
				}
				if r.Header.Get("Content-Security-Policy") == "" || r.Header.Get("X-Request-Id") == "" {
					t.Errorf("missing CSP or X-Request-ID: %v", r.Header)
				}
				if r.Header.Get("Server") != "" || r.Header.Get("X-Powered-By") != "" {
					t.Errorf("server banner: %v", r.Header)
				}
			}
			// Malformed input gives a problem without internals (checkProblem
			// rejects SQL, driver, stack and host details).
			for _, body := range []string{`{"email":`, `{"email": 1}`, `[]`, "\x00\xff", `{"email":"a@b.c","password":"x","name":"\u0000"}`} {
				r := s.do("POST", "/v1/auth/register", "", body)
				if r.Status < 400 || r.Status >= 500 {
					t.Errorf("body %q: status %d", body, r.Status)
				}
				checkProblem(t, r)
				if strings.Contains(string(r.Body), "json:") || strings.Contains(string(r.Body), "main.") || strings.Contains(string(r.Body), "httpapi") {
					t.Errorf("body %q: internals in %s", body, r.Body)
				}
			}
			// No CORS unless configured, and "*" never together with credentials.
			if v := s.do("GET", "/v1/products", "", nil, "Origin", "https://evil.example").Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("unconfigured CORS answered %q", v)
			}
			cfg := testConfig(t, sqliteStore)
			cfg.HTTP.CORS.AllowedOrigins, cfg.HTTP.CORS.AllowCredentials = []string{"*"}, true
			if err := cfg.Validate(); err == nil {
				t.Error(`config accepted CORS "*" with credentials`)
			}
			cfg.HTTP.CORS.AllowCredentials = false
			open := startServer(t, cfg)
			r := open.do("GET", "/v1/products", "", nil, "Origin", "https://any.example")
			if r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("wildcard CORS headers: %v", r.Header)
			}
		})

		t.Run("API9 improper inventory management", func(t *testing.T) {
			// Every registered route is documented and every documented one
			// is served: TestEveryRouteIsDocumented. Here: nothing is served
			// outside the versioned API, the operational endpoints and the
			// operator console's static files (/admin/, which call /v1 only).
			allowed := []string{"/v1/", "/ofrep/v1/", "/livez", "/readyz", "/metrics", "/openapi.yaml", "/openapi.json", "/docs", "/admin/"}
			for _, r := range s.app.router.Routes() {
				ok := false
				for _, prefix := range allowed {
					ok = ok || strings.HasPrefix(r.Path, prefix)
				}
				if !ok {
					t.Errorf("route %s %s is outside the versioned, documented surface", r.Method, r.Path)
				}
			}
			expect(t, s.do("GET", "/v0/products", "", nil), 404)
			expect(t, s.do("GET", "/v2/products", "", nil), 404)
		})

		t.Run("API10 unsafe consumption of APIs", func(t *testing.T) {
			// The payment provider's answers are validated: a 2xx with an
			// unknown status never marks an order paid, and nothing of the
			// provider's text reaches the client. Full classification:
			// TestPaymentChargeClassifiesAnswers (modules/orders/internal/payments),
			// TestPaymentFlakyProviderRecovers.
			var hits atomic.Int64
			odd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"id":"ch_1","status":"succeeded-ish <script>alert(1)</script>","message":"internal provider detail"}`)
			}))
			defer odd.Close()
			ps := serverWithProvider(t, sqliteStore, odd.URL)
			_, c := ps.register("owasp-pay@example.com")
			prod := ps.createProduct(ps.adminToken(), map[string]any{"stock": 5})["id"].(string)
			r := ps.placeOrder(c, "pay-1", orderLine{prod, 1})
			expect(t, r, 201)
			id := r.JSON(t)["id"].(string)
			// The bus's own attempt charges it: wait until the provider has
			// answered at least once.
			for deadline := time.Now().Add(10 * time.Second); hits.Load() == 0 && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			if hits.Load() == 0 {
				t.Fatal("the provider was never called")
			}
			o := ps.do("GET", "/v1/orders/"+id, c, nil)
			expect(t, o, 200)
			if st := o.JSON(t)["status"]; st != "pending" {
				t.Errorf("order status %v after an invalid provider answer, want pending", st)
			}
			if strings.Contains(string(o.Body), "provider detail") || strings.Contains(string(o.Body), "script") {
				t.Errorf("provider text reached the client: %s", o.Body)
			}
		})
	})
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
