package app

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestUsersFlow(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		id, tok := s.register("alice@example.com")

		// Email is normalised, so a case variant is a duplicate.
		expect(t, s.do("POST", "/v1/auth/register", "", map[string]string{"email": "ALICE@example.com", "password": "another-pass-1", "name": "A"}), 409)

		me := s.do("GET", "/v1/users/me", tok, nil)
		expect(t, me, 200)
		body := me.JSON(t)
		if body["id"] != id || body["email"] != "alice@example.com" || body["role"] != "customer" {
			t.Fatalf("me = %s", me.Body)
		}
		if _, leaked := body["password_hash"]; leaked {
			t.Fatal("password hash leaked")
		}
		vary := strings.Join(me.Header.Values("Vary"), ",") // gzip adds its own Vary line
		if cc := me.Header.Get("Cache-Control"); !strings.Contains(cc, "private") || !strings.Contains(vary, "Authorization") {
			t.Fatalf("per-user data must be private and vary on Authorization: %q %q", cc, vary)
		}
		expect(t, s.do("GET", "/v1/users/me", tok, nil, "If-None-Match", me.Header.Get("ETag")), 304)

		patched := s.do("PATCH", "/v1/users/me", tok, map[string]string{"name": "Alice Liddell"})
		expect(t, patched, 200)
		if patched.JSON(t)["name"] != "Alice Liddell" {
			t.Fatalf("patch me: %s", patched.Body)
		}
		// The old ETag is stale now.
		expect(t, s.do("PATCH", "/v1/users/me", tok, map[string]string{"name": "X"}, "If-Match", me.Header.Get("ETag")), 412)

		// Wrong email and wrong password look identical.
		a := s.do("POST", "/v1/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "whatever-123"})
		b := s.do("POST", "/v1/auth/login", "", map[string]string{"email": "alice@example.com", "password": "whatever-123"})
		expect(t, a, 401)
		expect(t, b, 401)
		if a.JSON(t)["detail"] != b.JSON(t)["detail"] || a.JSON(t)["type"] != b.JSON(t)["type"] {
			t.Fatalf("login failures differ: %s vs %s", a.Body, b.Body)
		}

		// Another user's ID is a 404 for a customer; admin sees it.
		otherID, _ := s.register("bob@example.com")
		expect(t, s.do("GET", "/v1/users/"+otherID, tok, nil), 404)
		expect(t, s.do("GET", "/v1/users/"+id, tok, nil), 200)
		admin := s.adminToken()
		expect(t, s.do("GET", "/v1/users/"+otherID, admin, nil), 200)
		expect(t, s.do("GET", "/v1/users/not-a-uuid", admin, nil), 404)

		// Lists and role changes are admin-only.
		expect(t, s.do("GET", "/v1/users", tok, nil), 403)
		expect(t, s.do("GET", "/v1/users", "", nil), 401)
		expect(t, s.do("PATCH", "/v1/users/"+otherID, tok, map[string]string{"role": "admin"}), 403)
		list := s.do("GET", "/v1/users?limit=2&sort=email", admin, nil)
		expect(t, list, 200)
		env := list.JSON(t)
		if len(env["data"].([]any)) != 2 || env["next_cursor"] == nil || list.Header.Get("Link") == "" {
			t.Fatalf("users list page: %s", list.Body)
		}
		expect(t, s.do("PATCH", "/v1/users/"+otherID, admin, map[string]string{"role": "overlord"}), 422)
		promoted := s.do("PATCH", "/v1/users/"+otherID, admin, map[string]string{"role": "admin"})
		expect(t, promoted, 200)
		if promoted.JSON(t)["role"] != "admin" {
			t.Fatalf("role not changed: %s", promoted.Body)
		}
		// Bad tokens are 401 everywhere.
		expect(t, s.do("GET", "/v1/users/me", tok+"x", nil), 401)
		expect(t, s.do("GET", "/v1/products", "garbage", nil), 401)
	})
}

func TestProductsCRUD(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		_, customer := s.register("carol@example.com")
		body := map[string]any{"sku": "LAMP-1", "name": "Desk lamp", "price_cents": 0, "currency": "EUR", "stock": 0}

		expect(t, s.do("POST", "/v1/products", "", body), 401)
		expect(t, s.do("POST", "/v1/products", customer, body), 403)
		created := s.do("POST", "/v1/products", admin, body)
		expect(t, created, 201)
		p := created.JSON(t)
		id := p["id"].(string)
		if loc := created.Header.Get("Location"); !strings.HasSuffix(loc, "/v1/products/"+id) {
			t.Fatalf("Location %q", loc)
		}
		if p["price_cents"].(float64) != 0 || p["stock"].(float64) != 0 || p["currency"] != "EUR" {
			t.Fatalf("zero values lost: %s", created.Body)
		}
		expect(t, s.do("POST", "/v1/products", admin, body), 409)

		got := s.do("GET", "/v1/products/"+id, "", nil)
		expect(t, got, 200)
		if !strings.HasPrefix(got.Header.Get("Cache-Control"), "public, max-age=") || got.Header.Get("ETag") == "" {
			t.Fatalf("catalogue caching headers: %v", got.Header)
		}
		expect(t, s.do("GET", "/v1/products/"+id, "", nil, "If-None-Match", got.Header.Get("ETag")), 304)

		// Partial update keeps the other fields; setting stock to 0 works.
		patched := s.do("PATCH", "/v1/products/"+id, admin, map[string]any{"stock": 7}, "If-Match", got.Header.Get("ETag"))
		expect(t, patched, 200)
		pp := patched.JSON(t)
		if pp["stock"].(float64) != 7 || pp["name"] != "Desk lamp" {
			t.Fatalf("partial update: %s", patched.Body)
		}
		// The read after the write sees the new value (cache invalidated).
		if s.do("GET", "/v1/products/"+id, "", nil).JSON(t)["stock"].(float64) != 7 {
			t.Fatal("stale read after write")
		}
		expect(t, s.do("PATCH", "/v1/products/"+id, admin, map[string]any{"stock": 0}, "If-Match", got.Header.Get("ETag")), 412)
		expect(t, s.do("DELETE", "/v1/products/"+id, admin, nil, "If-Match", got.Header.Get("ETag")), 412)
		expect(t, s.do("PATCH", "/v1/products/"+id, admin, map[string]any{"stock": 0}), 200)

		other := s.createProduct(admin, map[string]any{"sku": "LAMP-2"})
		expect(t, s.do("PATCH", "/v1/products/"+other["id"].(string), admin, map[string]any{"sku": "LAMP-1"}), 409)

		expect(t, s.do("DELETE", "/v1/products/"+id, customer, nil), 403)
		del := s.do("DELETE", "/v1/products/"+id, admin, nil)
		if del.Status != 204 || len(del.Body) != 0 {
			t.Fatalf("delete: %d %s", del.Status, del.Body)
		}
		expect(t, s.do("GET", "/v1/products/"+id, "", nil), 404)
		expect(t, s.do("DELETE", "/v1/products/"+id, admin, nil), 404)
		for _, bad := range []string{"nope", "123", "00000000-0000-0000-0000-00000000000g", strings.Repeat("a", 300)} {
			expect(t, s.do("GET", "/v1/products/"+bad, "", nil), 404)
			expect(t, s.do("PATCH", "/v1/products/"+bad, admin, map[string]any{"stock": 1}), 404)
		}
	})
}

// Bad input gets a problem response and changes nothing.
func TestBadInputIsRejectedAndChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		cases := []struct {
			name, contentType string
			body              string
			status            int
		}{
			{"not json content type", "text/plain", `{"sku":"A"}`, 415},
			{"no content type", "", `{"sku":"A"}`, 415},
			{"malformed json", "application/json", `{"sku":`, 400},
			{"unknown field", "application/json", `{"sku":"A","name":"n","price_cents":1,"currency":"EUR","colour":"red"}`, 400},
			{"two values", "application/json", `{"sku":"A"} {"sku":"B"}`, 400},
			{"wrong type", "application/json", `{"sku":"A","name":"n","price_cents":"cheap","currency":"EUR"}`, 400},
			{"array body", "application/json", `[1,2]`, 400},
			{"empty body", "application/json", ``, 400},
			{"too large", "application/json", `{"sku":"A","description":"` + strings.Repeat("x", 1<<20) + `"}`, 413},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do("POST", "/v1/products", admin, tc.body, "Content-Type", tc.contentType)
				if tc.contentType == "" {
					req, _ := http.NewRequest("POST", s.srv.URL+"/v1/products", strings.NewReader(tc.body))
					req.Header.Set("Authorization", "Bearer "+admin)
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
					if res.StatusCode != tc.status {
						t.Fatalf("status %d want %d", res.StatusCode, tc.status)
					}
					return
				}
				expect(t, r, tc.status)
			})
		}
		v := s.do("POST", "/v1/products", admin, map[string]any{"sku": "bad sku!", "name": " ", "price_cents": -1, "currency": "euro", "stock": -5})
		expect(t, v, 422)
		errs := v.JSON(t)["errors"].([]any)
		fields := map[string]bool{}
		for _, e := range errs {
			fields[e.(map[string]any)["field"].(string)] = true
		}
		for _, f := range []string{"sku", "name", "price_cents", "currency", "stock"} {
			if !fields[f] {
				t.Fatalf("422 does not list %q: %s", f, v.Body)
			}
		}
		list := s.do("GET", "/v1/products", "", nil)
		expect(t, list, 200)
		if n := len(list.JSON(t)["data"].([]any)); n != 0 {
			t.Fatalf("rejected requests created %d products", n)
		}
		expect(t, s.do("PATCH", "/v1/users/me", s.login(adminEmail, adminPassword), map[string]any{}), 422)
		expect(t, s.do("GET", "/v1/nowhere", "", nil), 404)
		expect(t, s.do("PUT", "/v1/products", admin, nil), 405)
	})
}

func TestRequestIDAndSecurityHeaders(t *testing.T) {
	s := newServer(t, sqliteStore)
	r := s.do("GET", "/livez", "", nil, "X-Request-ID", "client-id-123")
	if r.Header.Get("X-Request-ID") != "client-id-123" {
		t.Fatalf("sane request ID not echoed: %v", r.Header)
	}
	r = s.do("GET", "/livez", "", nil, "X-Request-ID", "bad id\twith junk")
	if id := r.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, "junk") {
		t.Fatalf("insane request ID echoed: %q", id)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("security headers missing: %v", r.Header)
	}
}

func TestPanicBecomesProblem(t *testing.T) {
	s := newServer(t, sqliteStore)
	s.app.router.GET("/v1/test-panic", func(*gin.Context) { panic("boom: secret internals") })
	r := s.do("GET", "/v1/test-panic", "", nil)
	expect(t, r, 500)
	if strings.Contains(string(r.Body), "secret internals") {
		t.Fatalf("panic value leaked: %s", r.Body)
	}
	if !strings.Contains(s.log.String(), "boom: secret internals") {
		t.Fatal("panic was not logged")
	}
}

func TestGzipForLargeBodiesOnly(t *testing.T) {
	s := newServer(t, sqliteStore)
	admin := s.adminToken()
	for i := 0; i < 20; i++ {
		s.createProduct(admin, map[string]any{"sku": fmt.Sprintf("GZ-%d", i), "description": strings.Repeat("long text ", 20)})
	}
	req, _ := http.NewRequest("GET", s.srv.URL+"/v1/products", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	tr := &http.Transport{DisableCompression: true}
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("large list not gzipped: %v", res.Header)
	}
	req, _ = http.NewRequest("GET", s.srv.URL+"/livez", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Content-Encoding") == "gzip" {
		t.Fatal("tiny body should not be gzipped")
	}
}

func TestConcurrentRegistrationsOfOneEmail(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		var wg sync.WaitGroup
		statuses := make(chan int, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := s.do("POST", "/v1/auth/register", "", map[string]string{"email": "race@example.com", "password": "race-pass-123", "name": "R"})
				statuses <- r.Status
			}()
		}
		wg.Wait()
		close(statuses)
		created := 0
		for st := range statuses {
			switch st {
			case 201:
				created++
			case 409:
			default:
				t.Fatalf("unexpected status %d", st)
			}
		}
		if created != 1 {
			t.Fatalf("%d accounts created for one email", created)
		}
	})
}
