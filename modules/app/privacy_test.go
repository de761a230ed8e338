package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The right of access (GET /v1/users/me/export) and the right to erasure
// (DELETE /v1/users/me), on both stores.
func TestPrivacyExportAndErasure(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		annID, ann := s.register("ann@example.com")
		bobID, bob := s.register("bob@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 10, "name": "Mug", "price_cents": 1299})["id"].(string)
		var annOrders []string
		for i, q := range []int64{2, 1} {
			r := s.placeOrder(ann, fmt.Sprintf("ann-%d", i), orderLine{p, q})
			expect(t, r, 201)
			annOrders = append(annOrders, r.JSON(t)["id"].(string))
		}
		expect(t, s.placeOrder(bob, "bob-1", orderLine{p, 1}), 201)

		// Export: the profile and the caller's own orders with items, never
		// cached, never another user's data, never a password hash.
		r := s.do("GET", "/v1/users/me/export", ann, nil)
		expect(t, r, 200)
		if cc := r.Header.Get("Cache-Control"); cc != "private, no-store" {
			t.Errorf("export Cache-Control = %q", cc)
		}
		if vary := strings.Join(r.Header.Values("Vary"), ","); !strings.Contains(vary, "Authorization") {
			t.Errorf("export Vary = %q", vary)
		}
		ex := r.JSON(t)
		user := ex["user"].(map[string]any)
		if user["id"] != annID || user["email"] != "ann@example.com" || user["name"] != "Test Customer" {
			t.Errorf("export user = %v", user)
		}
		list := ex["orders"].([]any)
		if len(list) != 2 {
			t.Fatalf("export has %d orders, want 2: %s", len(list), r.Body)
		}
		var units float64
		for _, o := range list {
			o := o.(map[string]any)
			if o["user_id"] != annID {
				t.Errorf("export holds an order of %v", o["user_id"])
			}
			items := o["items"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["product_id"] != p || items[0].(map[string]any)["unit_price_cents"] != 1299.0 {
				t.Errorf("export order items = %v", items)
			}
			units += items[0].(map[string]any)["quantity"].(float64)
		}
		if units != 3 {
			t.Errorf("export has %v units, want 3", units)
		}
		low := strings.ToLower(string(r.Body))
		if strings.Contains(low, "password") || strings.Contains(low, "argon2") || strings.Contains(string(r.Body), bobID) {
			t.Errorf("export leaks: %s", r.Body)
		}
		// There is no way to ask for someone else's export.
		expect(t, s.do("GET", "/v1/users/me/export", "", nil), 401)
		if ex := s.do("GET", "/v1/users/me/export", bob, nil).JSON(t); ex["user"].(map[string]any)["id"] != bobID || len(ex["orders"].([]any)) != 1 {
			t.Errorf("bob's export = %v", ex)
		}
		expect(t, s.do("GET", "/v1/users/"+annID+"/export", bob, nil), 404)

		// Erasure.
		expect(t, s.do("DELETE", "/v1/users/me", "", nil), 401)
		r = s.do("DELETE", "/v1/users/me", ann, nil)
		expect(t, r, 204)
		if len(r.Body) != 0 {
			t.Errorf("204 with a body: %s", r.Body)
		}
		// The account reads as gone: the still-unexpired token gets 404 on
		// every users route, a second erasure too.
		expect(t, s.do("GET", "/v1/users/me", ann, nil), 404)
		expect(t, s.do("GET", "/v1/users/me/export", ann, nil), 404)
		expect(t, s.do("PATCH", "/v1/users/me", ann, map[string]string{"name": "Back"}), 404)
		expect(t, s.do("DELETE", "/v1/users/me", ann, nil), 404)
		expect(t, s.do("GET", "/v1/users/"+annID, admin, nil), 404)
		expect(t, s.do("PATCH", "/v1/users/"+annID, admin, map[string]string{"role": "admin"}), 404)
		if l := s.do("GET", "/v1/users?email=ann%40example.com", admin, nil).JSON(t)["data"].([]any); len(l) != 0 {
			t.Errorf("admin list still shows the erased user: %v", l)
		}
		// Logging in fails like any wrong credentials.
		r = s.do("POST", "/v1/auth/login", "", map[string]string{"email": "ann@example.com", "password": "customer-pass-1"})
		expect(t, r, 401)
		// The row is anonymised in place (its id stays valid), nothing personal remains.
		var row struct {
			Email, Name, PasswordHash string
			ErasedAt                  *time.Time
		}
		if err := s.app.db.Gorm.Raw("SELECT email, name, password_hash, erased_at FROM users WHERE id = ?", annID).Scan(&row).Error; err != nil {
			t.Fatal(err)
		}
		if row.Email != "erased+"+annID+"@invalid" || row.Name != "" || strings.Contains(row.PasswordHash, "argon2") || row.ErasedAt == nil {
			t.Errorf("erased row = %+v", row)
		}

		// The orders module detaches the orders (eventually: the event goes
		// through the outbox): kept for the books, totals and items intact.
		sum := sha256.Sum256([]byte(annID))
		pseudonym := "erased:" + hex.EncodeToString(sum[:])
		deadline := time.Now().Add(10 * time.Second)
		for _, id := range annOrders {
			var o map[string]any
			for {
				o = s.do("GET", "/v1/orders/"+id+"?include=items", admin, nil).JSON(t)
				if o["user_id"] == pseudonym || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if o["user_id"] != pseudonym {
				t.Fatalf("order %s user_id = %v, want %s", id, o["user_id"], pseudonym)
			}
			if len(o["items"].([]any)) != 1 || o["total_cents"].(float64) == 0 || o["status"] != "pending" && o["status"] != "paid" {
				t.Errorf("detached order lost its books: %v", o)
			}
		}
		// The erased user's still-valid token sees no orders and cannot
		// place new ones.
		if l := s.do("GET", "/v1/orders", ann, nil).JSON(t)["data"].([]any); len(l) != 0 {
			t.Errorf("the erased user's token still lists orders: %v", l)
		}
		expect(t, s.placeOrder(ann, "after-erasure", orderLine{p, 1}), 401)
		if l := s.do("GET", "/v1/orders?user_id="+annID, admin, nil).JSON(t)["data"].([]any); len(l) != 0 {
			t.Errorf("orders still linked to the erased user: %v", l)
		}
		all := s.do("GET", "/v1/orders?limit=100", admin, nil)
		if strings.Contains(string(all.Body), annID) {
			t.Errorf("admin order list still names the erased user: %s", all.Body)
		}
		var keys int64
		if err := s.app.db.Gorm.Raw("SELECT count(*) FROM order_idempotency_keys WHERE user_id = ?", annID).Scan(&keys).Error; err != nil {
			t.Fatal(err)
		}
		if keys != 0 {
			t.Errorf("%d idempotency records of the erased user remain", keys)
		}
		// Bob is untouched.
		if l := s.do("GET", "/v1/orders", bob, nil).JSON(t)["data"].([]any); len(l) != 1 || l[0].(map[string]any)["user_id"] != bobID {
			t.Errorf("bob's orders = %v", l)
		}
		// The erasure is in the audit trail, without personal data.
		audit := s.do("GET", "/v1/admin/audit?limit=100", admin, nil)
		if !strings.Contains(string(audit.Body), `"users.erase"`) || strings.Contains(string(audit.Body), "ann@example.com") {
			t.Errorf("audit trail: %s", audit.Body)
		}

		// The email is free again: a new, different account.
		newID, newTok := s.register("ann@example.com")
		if newID == annID {
			t.Fatal("re-registration reused the erased id")
		}
		if ex := s.do("GET", "/v1/users/me/export", newTok, nil).JSON(t); len(ex["orders"].([]any)) != 0 {
			t.Errorf("the new account inherited orders: %v", ex)
		}
	})
}

// users.user_erased.v1 payloads validate against their schema, and the
// schema bites.
func TestUserErasedEventMatchesSchema(t *testing.T) {
	s := newServer(t, sqliteStore)
	id, tok := s.register("gone@example.com")
	expect(t, s.do("DELETE", "/v1/users/me", tok, nil), 204)
	var rows []struct{ Key, Payload string }
	if err := s.app.db.Gorm.Raw("SELECT key, payload FROM event_outbox WHERE type = 'users.user_erased.v1'").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Key != id {
		t.Fatalf("user_erased events = %+v", rows)
	}
	sch, err := jsonschema.NewCompiler().Compile(filepath.Join("docs", "events", "users.user_erased.v1.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, raw := range []string{rows[0].Payload, `{"user_id":"` + id + `"}`, fmt.Sprintf(`{"user_id":%q,"erased_at":"2026-11-23T10:00:00Z","email":"x@y"}`, id)} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); (err == nil) != (i == 0) {
			t.Errorf("payload %s: validation error %v", raw, err)
		}
	}
}
