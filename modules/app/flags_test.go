package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"example.com/productapi/platform/testkit"
)

// switchFlag sets a boolean contract flag's default variant through the
// admin API, as an operator would.
func (s *testServer) switchFlag(admin, key string, on bool) {
	s.t.Helper()
	variant := "off"
	if on {
		variant = "on"
	}
	r := s.do("PUT", "/v1/admin/flags/"+key, admin, map[string]any{
		"state": "ENABLED", "variants": map[string]any{"on": true, "off": false}, "defaultVariant": variant,
	})
	expect(s.t, r, 200)
}

// Operators switch checkout and search off and on at runtime; the effects
// are exactly the contract's, every change is audited, and a second
// instance sharing the database follows within 2 s.
func TestRuntimeFlagsSwitchBehaviour(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		cfg := testConfig(t, kind)
		a := startServer(t, cfg)
		admin := a.adminToken()
		_, customer := a.register("flags@example.com")
		pid := a.createProduct(admin, map[string]any{"name": "Switchable lamp", "stock": 10})["id"].(string)
		order := map[string]any{"items": []map[string]any{{"product_id": pid, "quantity": 1}}}

		a.switchFlag(admin, "orders.checkout_enabled", false)
		off := a.do("POST", "/v1/orders", customer, order, "Idempotency-Key", "flag-1")
		expect(t, off, 503)
		if off.Header.Get("Retry-After") == "" {
			t.Fatal("checkout off: 503 without Retry-After")
		}
		expect(t, a.do("GET", "/v1/products/"+pid, "", nil), 200) // everything else keeps working
		expect(t, a.do("GET", "/v1/orders", customer, nil), 200)
		a.switchFlag(admin, "orders.checkout_enabled", true)
		expect(t, a.do("POST", "/v1/orders", customer, order, "Idempotency-Key", "flag-1"), 201)

		a.switchFlag(admin, "products.search_enabled", false)
		expect(t, a.do("GET", "/v1/products?q=lamp", "", nil), 503)
		expect(t, a.do("GET", "/v1/products?category=tools", "", nil), 200)
		a.switchFlag(admin, "products.search_enabled", true)
		if data := a.do("GET", "/v1/products?q=switchable", "", nil).JSON(t)["data"].([]any); len(data) != 1 {
			t.Fatalf("search back on found %d products", len(data))
		}

		trail := a.do("GET", "/v1/admin/audit?action=flags.update", admin, nil)
		expect(t, trail, 200)
		if n := len(trail.JSON(t)["data"].([]any)); n != 4 {
			t.Fatalf("%d flag changes audited, want 4: %s", n, trail.Body)
		}
		if !strings.Contains(string(a.do("GET", "/v1/admin/audit?action=products.create", admin, nil).Body), pid) {
			t.Fatal("product creation not audited")
		}

		if kind != postgresStore {
			return // one embedded database cannot be shared by two instances
		}
		b := startServer(t, cfg)
		a.switchFlag(admin, "orders.checkout_enabled", false)
		start := time.Now()
		probe := 0
		testkit.Eventually(t, 2*time.Second, "instance B sees checkout switched off", func() bool {
			// A new key each time: a key that placed an order before B
			// followed would replay its 201 even while checkout is off.
			probe++
			return b.do("POST", "/v1/orders", customer, order, "Idempotency-Key", fmt.Sprintf("flag-b-%d", probe)).Status == 503
		})
		t.Logf("instance B followed after %s", time.Since(start))
	})
}
