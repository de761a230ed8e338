package query

import (
	"reflect"
	"testing"
)

func fullOrder() map[string]any {
	return map[string]any{
		"id": "o1", "user_id": "u1", "status": "paid", "total_cents": int64(500), "created_at": "2025-01-01T00:00:00Z",
		"items": []map[string]any{
			{"product_id": "p1", "sku": "A", "name": "Mug", "quantity": 2},
			{"product_id": "p2", "sku": "B", "name": "Cup", "quantity": 1},
		},
		"payments": []any{map[string]any{"id": "pay1", "status": "ok"}, "odd"},
	}
}

func TestProject(t *testing.T) {
	tests := []struct {
		name  string
		query string
		full  map[string]any
		want  map[string]any
	}{
		{"no fieldset returns everything", "", fullOrder(), fullOrder()},
		{"top-level fields", "fields=id,status", fullOrder(), map[string]any{"id": "o1", "status": "paid"}},
		{"missing keys are skipped", "fields=id,status", map[string]any{"id": "o1"}, map[string]any{"id": "o1"}},
		{"included relation kept whole", "fields=id&include=items", fullOrder(), map[string]any{
			"id": "o1", "items": fullOrder()["items"],
		}},
		{"nested fields", "fields=id,items.sku,items.quantity&include=items", fullOrder(), map[string]any{
			"id":    "o1",
			"items": []map[string]any{{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}},
		}},
		{"nested only", "fields=items.sku&include=items", fullOrder(), map[string]any{
			"items": []map[string]any{{"sku": "A"}, {"sku": "B"}},
		}},
		{"nested restriction without top-level fieldset", "fields=items.sku&include=items,payments", fullOrder(), map[string]any{
			"items": []map[string]any{{"sku": "A"}, {"sku": "B"}}, "payments": fullOrder()["payments"],
		}},
		{"[]any relation, non-map elements pass", "fields=payments.status&include=payments", fullOrder(), map[string]any{
			"payments": []any{map[string]any{"status": "ok"}, "odd"},
		}},
		{"single-object relation", "fields=items.sku&include=items",
			map[string]any{"id": "o1", "items": map[string]any{"sku": "A", "name": "Mug"}},
			map[string]any{"items": map[string]any{"sku": "A"}}},
		{"absent relation", "fields=id,items.sku&include=items", map[string]any{"id": "o1"}, map[string]any{"id": "o1"}},
		{"null relation", "fields=items.sku&include=items", map[string]any{"items": nil}, map[string]any{"items": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(testSpec, mustQuery(t, tt.query))
			if err != nil {
				t.Fatal(err)
			}
			if got := Project(tt.full, p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
	t.Run("no restriction does not copy", func(t *testing.T) {
		full := fullOrder()
		got := Project(full, mustParse(t, "include=items"))
		got["marker"] = true
		if _, ok := full["marker"]; !ok {
			t.Error("expected the same map back")
		}
	})
	t.Run("input left untouched", func(t *testing.T) {
		full := fullOrder()
		Project(full, mustParse(t, "fields=id,items.sku&include=items"))
		if !reflect.DeepEqual(full, fullOrder()) {
			t.Error("Project modified its input")
		}
	})
}
