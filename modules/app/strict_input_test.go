package app

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// Strict input (api.md, General): a NUL in a JSON string, invalid UTF-8, a
// query string that does not parse and an out-of-range numeric filter are
// 4xx problems on both stores, never a 500 and never silently accepted; a
// refused request changes nothing.
func TestStrictInputRefusesNULInBodies(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		_, customer := s.register("strict@example.com")
		product := s.createProduct(admin, map[string]any{"name": "Steady lamp"})
		pid := product["id"].(string)

		// Each body carries the JSON escape \u0000 inside one string.
		const nul = `\u0000`
		cases := []struct {
			name, method, path, token, body string
			unchanged                       func(t *testing.T) // nothing was stored
		}{
			{"register name", "POST", "/v1/auth/register", "",
				`{"email":"nul-name@example.com","password":"customer-pass-1","name":"Eve` + nul + `"}`,
				func(t *testing.T) { s.notRegistered(t, "nul-name@example.com") }},
			{"register email", "POST", "/v1/auth/register", "",
				`{"email":"nul` + nul + `@example.com","password":"customer-pass-1","name":"Eve"}`,
				func(t *testing.T) { s.notRegistered(t, "nul@example.com") }},
			{"login email", "POST", "/v1/auth/login", "",
				`{"email":"strict@example.com` + nul + `","password":"customer-pass-1"}`, nil},
			{"login password", "POST", "/v1/auth/login", "",
				`{"email":"strict@example.com","password":"customer` + nul + `-pass-1"}`, nil},
			{"product create name", "POST", "/v1/products", admin,
				`{"sku":"NUL-1","name":"Lamp` + nul + `","price_cents":100,"currency":"EUR"}`,
				func(t *testing.T) { s.productCount(t, 1) }},
			{"product create description", "POST", "/v1/products", admin,
				`{"sku":"NUL-2","name":"Lamp","description":"` + nul + `","price_cents":100,"currency":"EUR","category":"tools"}`,
				func(t *testing.T) { s.productCount(t, 1) }},
			{"product patch name", "PATCH", "/v1/products/" + pid, admin, `{"name":"Dim` + nul + `lamp"}`,
				func(t *testing.T) { s.sameBody(t, "/v1/products/"+pid, "", product["name"].(string)) }},
			{"product patch category", "PATCH", "/v1/products/" + pid, admin, `{"category":"` + nul + `"}`,
				func(t *testing.T) { s.sameBody(t, "/v1/products/"+pid, "", product["name"].(string)) }},
			{"patch me name", "PATCH", "/v1/users/me", customer, `{"name":"Mallory` + nul + `"}`,
				func(t *testing.T) { s.sameBody(t, "/v1/users/me", customer, "Test Customer") }},
			{"order product id", "POST", "/v1/orders", customer, `{"items":[{"product_id":"` + pid + nul + `","quantity":1}]}`,
				func(t *testing.T) { s.orderCount(t, customer, 0) }},
			{"flag metadata", "PUT", "/v1/admin/flags/strict.nul", admin,
				`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on","metadata":{"description":"x` + nul + `"}}`,
				func(t *testing.T) { expect(t, s.do("GET", "/v1/admin/flags/strict.nul", admin, nil), 404) }},
			{"flag variant value", "PUT", "/v1/admin/flags/strict.nul", admin,
				`{"state":"ENABLED","variants":{"a":"x` + nul + `","b":"y"},"defaultVariant":"a"}`,
				func(t *testing.T) { expect(t, s.do("GET", "/v1/admin/flags/strict.nul", admin, nil), 404) }},
			{"NUL in a key", "POST", "/v1/auth/register", "",
				`{"email":"nul-key@example.com","password":"customer-pass-1","name":"Eve","na` + nul + `me":"x"}`,
				func(t *testing.T) { s.notRegistered(t, "nul-key@example.com") }},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(tc.method, tc.path, tc.token, tc.body, "Idempotency-Key", "nul-"+tc.name)
				if r.Status != 400 && r.Status != 422 {
					t.Fatalf("status %d, want 400 or 422: %s", r.Status, r.Body)
				}
				checkProblem(t, r)
				if tc.unchanged != nil {
					tc.unchanged(t)
				}
			})
		}

		// An escaped backslash before "u0000" is six ordinary characters,
		// not a NUL: it is accepted.
		r := s.do("PATCH", "/v1/users/me", customer, `{"name":"back\\u0000slash"}`)
		expect(t, r, 200)
		if got := r.JSON(t)["name"]; got != `back\u0000slash` {
			t.Fatalf("name %q", got)
		}
	})
}

func TestStrictInputRefusesInvalidUTF8(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		_, customer := s.register("utf8@example.com")
		for name, body := range map[string]string{
			"lone continuation byte": "{\"email\":\"bad-utf8@example.com\",\"password\":\"customer-pass-1\",\"name\":\"Ev\x80e\"}",
			"truncated sequence":     "{\"email\":\"bad-utf8@example.com\",\"password\":\"customer-pass-1\",\"name\":\"Eve\xe2\x82\"}",
			"0xff":                   "{\"email\":\"bad-utf8@example.com\",\"password\":\"customer-pass-1\",\"name\":\"\xff\"}",
		} {
			t.Run(name, func(t *testing.T) {
				expect(t, s.do("POST", "/v1/auth/register", "", body), 400)
				s.notRegistered(t, "bad-utf8@example.com")
			})
		}
		expect(t, s.do("PATCH", "/v1/users/me", customer, "{\"name\":\"M\xc3\"}"), 400)
		s.sameBody(t, "/v1/users/me", customer, "Test Customer")
		expect(t, s.do("POST", "/v1/products", admin, "{\"sku\":\"U-1\",\"name\":\"\xed\xa0\x80\",\"price_cents\":1,\"currency\":\"EUR\"}"), 400)
		s.productCount(t, 0)
		// Valid multi-byte text is of course fine.
		r := s.do("PATCH", "/v1/users/me", customer, `{"name":"Zoë 😀"}`)
		expect(t, r, 200)
	})
}

// Hostile bytes in a query value or a path parameter never reach the
// database as a 500: a query value is a 400, an id that cannot exist a 404.
func TestStrictInputNULAndBadBytesInURLs(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		_, customer := s.register("urls@example.com")
		s.createProduct(admin, nil)
		for _, tc := range []struct {
			path, token string
			status      int
		}{
			{"/v1/products?category=%00", "", 400},
			{"/v1/products?q=%00", "", 400},
			{"/v1/products?q=%FF", "", 400},
			{"/v1/products?category=a%00b", "", 400},
			{"/v1/products?fields=id%00", "", 400},
			{"/v1/products?x%00=1", "", 400},
			{"/v1/orders?status=%00", customer, 400},
			{"/v1/users?email=%00", admin, 400},
			{"/v1/admin/audit?action=%C0%80", admin, 400},
			{"/livez?probe=%00", "", 400},
			{"/v1/products/%00", "", 404},
			{"/v1/products/%FF", "", 404},
			{"/v1/orders/%00", customer, 404},
			{"/v1/users/%00", admin, 404},
			{"/v1/admin/flags/%00", admin, 404},
			{"/v1/admin/dead-letters/%00", admin, 404},
		} {
			t.Run(tc.path, func(t *testing.T) {
				expect(t, s.do("GET", tc.path, tc.token, nil), tc.status)
			})
		}
		r := s.do("PATCH", "/v1/products/%00", admin, map[string]any{"name": "x"})
		expect(t, r, 404)
		r = s.do("POST", "/ofrep/v1/evaluate/flags/%00", "", map[string]any{})
		if r.Status >= 500 {
			t.Fatalf("OFREP with a NUL key: %d %s", r.Status, r.Body)
		}
	})
}

func TestStrictInputMalformedQueryStrings(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		pid := s.createProduct(admin, nil)["id"].(string)
		for _, tc := range []struct {
			path, token, names string // names: the bad part the problem must quote
		}{
			{"/v1/products?fields=id;name", "", "fields=id;name"},
			{"/v1/products?limit=1;fields=id", "", "limit=1;fields=id"},
			{"/v1/products?fields=%zz", "", "fields=%zz"},
			{"/v1/products?fields=id&sort=%", "", "sort=%"},
			{"/v1/products?limit=2&q=a%2", "", "q=a%2"},
			{"/v1/products/" + pid + "?fields=id;name", "", "fields=id;name"},
			{"/v1/admin/flags?fields=%zz", admin, "fields=%zz"},
			{"/v1/users/me?x=;", admin, "x=;"},
			{"/livez?a;b", "", "a;b"},
			{"/openapi.yaml?%zz", "", "%zz"},
		} {
			t.Run(tc.path, func(t *testing.T) {
				r := s.do("GET", tc.path, tc.token, nil)
				expect(t, r, 400)
				if d, _ := r.JSON(t)["detail"].(string); !strings.Contains(d, tc.names) {
					t.Fatalf("detail %q does not name %q", d, tc.names)
				}
			})
		}
		// The same parameters written correctly are fine.
		expect(t, s.do("GET", "/v1/products?fields=id,name&limit=1", "", nil), 200)
		expect(t, s.do("GET", "/v1/products?q=caf%C3%A9+lamp", "", nil), 200)
	})
}

func TestStrictInputNumericFilterRanges(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		for _, q := range []string{
			"min_price_cents=-1", "max_price_cents=-5", "min_price_cents=-9223372036854775808",
			"max_price_cents=99999999999999999999", "min_price_cents=1.5", "limit=0", "limit=-1", "limit=101",
		} {
			t.Run(q, func(t *testing.T) {
				r := s.do("GET", "/v1/products?"+q, "", nil)
				expect(t, r, 400)
				name, _, _ := strings.Cut(q, "=")
				if d, _ := r.JSON(t)["detail"].(string); !strings.Contains(d, name) {
					t.Fatalf("detail %q does not name %s", d, name)
				}
			})
		}
		expect(t, s.do("GET", "/v1/products?min_price_cents=0&max_price_cents=100000000000", "", nil), 200)
	})
}

// Every GET route answers HEAD: same status and headers, no body, and
// If-None-Match still gives 304.
func TestHeadMirrorsGet(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		_, customer := s.register("head@example.com")
		pid := s.createProduct(admin, nil)["id"].(string)
		for _, tc := range []struct {
			path, token, encoding string
			etag                  bool
		}{
			{"/v1/products", "", "identity", true},
			{"/v1/products?fields=id,name&limit=1", "", "identity", true},
			{"/v1/products/" + pid, "", "identity", true},
			{"/v1/products/" + pid, "", "gzip", true},
			{"/v1/users/me", customer, "identity", true},
			{"/v1/admin/flags", admin, "gzip", true},
			{"/openapi.yaml", "", "identity", false},
			{"/openapi.yaml", "", "gzip", false},
			{"/livez", "", "identity", false},
			{"/v1/products/00000000-0000-7000-8000-000000000000", "", "identity", false}, // a 404 mirrors too
		} {
			t.Run(tc.path+" "+tc.encoding, func(t *testing.T) {
				get := s.do("GET", tc.path, tc.token, nil, "Accept-Encoding", tc.encoding)
				head := s.do("HEAD", tc.path, tc.token, nil, "Accept-Encoding", tc.encoding)
				if tc.path == "/openapi.yaml" && tc.encoding == "gzip" && get.Header.Get("Content-Encoding") != "gzip" {
					t.Fatal("the large GET is not compressed: the case tests nothing")
				}
				if head.Status != get.Status {
					t.Fatalf("HEAD %d, GET %d", head.Status, get.Status)
				}
				for _, h := range []string{"Content-Type", "Etag", "Cache-Control", "Vary", "Content-Encoding",
					"Ratelimit-Policy", "X-Content-Type-Options", "Content-Security-Policy"} {
					if head.Header.Get(h) != get.Header.Get(h) {
						t.Errorf("%s: HEAD %q, GET %q", h, head.Header.Get(h), get.Header.Get(h))
					}
				}
				if cl := get.Header.Get("Content-Length"); cl != "" && head.Header.Get("Content-Length") != cl {
					t.Errorf("Content-Length: HEAD %q, GET %q", head.Header.Get("Content-Length"), cl)
				}
				if head.Header.Get("X-Request-Id") == "" {
					t.Error("HEAD without X-Request-ID")
				}
				// The client never reads a HEAD body; the handler itself
				// must not produce one (recorded below the HTTP server).
				if body := s.recordHead(t, tc.path, tc.token, tc.encoding); len(body) != 0 {
					t.Errorf("HEAD wrote a body of %d bytes", len(body))
				}
				if tc.etag {
					etag := get.Header.Get("Etag")
					if etag == "" {
						t.Fatal("GET without ETag")
					}
					nm := s.do("HEAD", tc.path, tc.token, nil, "If-None-Match", etag, "Accept-Encoding", tc.encoding)
					if nm.Status != 304 || nm.Header.Get("Etag") != etag {
						t.Fatalf("HEAD If-None-Match: %d ETag %q", nm.Status, nm.Header.Get("Etag"))
					}
				}
			})
		}
		// HEAD is no write method: on a POST-only route it is a 405 whose
		// Allow lists what is allowed; GET routes list HEAD with GET.
		r := s.do("HEAD", "/v1/auth/login", "", nil)
		if r.Status != 405 || r.Header.Get("Allow") != "POST" {
			t.Fatalf("HEAD on a POST route: %d Allow %q", r.Status, r.Header.Get("Allow"))
		}
		r = s.do("PUT", "/v1/products", admin, nil)
		expect(t, r, 405)
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") || !strings.Contains(allow, "POST") {
			t.Fatalf("Allow %q", allow)
		}
		if r := s.do("HEAD", "/v1/nowhere", "", nil); r.Status != 404 || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("HEAD on no route: %d %q", r.Status, r.Header.Get("Content-Type"))
		}
	})
}

// recordHead serves a HEAD through the production handler chain into a
// recorder, which keeps whatever body the handlers wrote.
func (s *testServer) recordHead(t *testing.T, path, token, encoding string) []byte {
	t.Helper()
	req := httptest.NewRequest("HEAD", path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept-Encoding", encoding)
	w := httptest.NewRecorder()
	s.srv.Config.Handler.ServeHTTP(w, req)
	body, _ := io.ReadAll(w.Result().Body)
	return body
}

// notRegistered asserts that no account exists for email.
func (s *testServer) notRegistered(t *testing.T, email string) {
	t.Helper()
	r := s.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "customer-pass-1"})
	expect(t, r, 401)
}

// productCount asserts how many products exist.
func (s *testServer) productCount(t *testing.T, want int) {
	t.Helper()
	r := s.do("GET", "/v1/products?limit=100", "", nil)
	expect(t, r, 200)
	if n := len(r.JSON(t)["data"].([]any)); n != want {
		t.Fatalf("%d products, want %d", n, want)
	}
}

// orderCount asserts how many orders the caller has.
func (s *testServer) orderCount(t *testing.T, token string, want int) {
	t.Helper()
	r := s.do("GET", "/v1/orders?limit=100", token, nil)
	expect(t, r, 200)
	if n := len(r.JSON(t)["data"].([]any)); n != want {
		t.Fatalf("%d orders, want %d", n, want)
	}
}

// sameBody asserts that the resource still has its name and no NUL.
func (s *testServer) sameBody(t *testing.T, path, token, name string) {
	t.Helper()
	r := s.do("GET", path, token, nil)
	expect(t, r, 200)
	if got := r.JSON(t)["name"]; got != name || bytes.Contains(r.Body, []byte(`\u0000`)) {
		t.Fatalf("resource changed: %s", r.Body)
	}
}
