package app

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Admin writes to products publish products.product_changed.v1 in the
// write's transaction; the payloads validate against their schema, and a
// refused write (duplicate SKU) publishes nothing.
func TestProductChangedEventsMatchSchema(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		p := s.createProduct(admin, map[string]any{"sku": "EVT-1"})
		id := p["id"].(string)
		expect(t, s.do("POST", "/v1/products", admin, map[string]any{"sku": "EVT-1", "name": "dup", "price_cents": 1, "currency": "EUR", "stock": 1}), 409)
		expect(t, s.do("PATCH", "/v1/products/"+id, admin, map[string]any{"price_cents": 4200}), 200)
		expect(t, s.do("DELETE", "/v1/products/"+id, admin, nil), 204)

		var rows []struct{ Key, Payload string }
		if err := s.app.db.Gorm.Raw("SELECT key, payload FROM event_outbox WHERE type = 'products.product_changed.v1' ORDER BY seq").Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 {
			t.Fatalf("%d product events, want 3 (created, updated, deleted): %v", len(rows), rows)
		}
		sch, err := jsonschema.NewCompiler().Compile(filepath.Join("docs", "events", "products.product_changed.v1.schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		for i, change := range []string{`"created"`, `"updated"`, `"deleted"`} {
			if rows[i].Key != id || !strings.Contains(rows[i].Payload, change) {
				t.Fatalf("event %d = %+v, want %s of %s", i, rows[i], change, id)
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(rows[i].Payload))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("payload %s: %v", rows[i].Payload, err)
			}
		}
		if !strings.Contains(rows[1].Payload, `"price_cents":4200`) {
			t.Fatalf("update event does not carry the new price: %s", rows[1].Payload)
		}
		// The schema bites: a created event without its fields is refused.
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"product_id":"` + id + `","change":"created","changed_at":"2026-11-23T10:00:00Z"}`))
		if sch.Validate(inst) == nil {
			t.Error("an incomplete payload validated")
		}
	})
}
