package query

import (
	"net/url"
	"testing"
	"time"
)

// productsSpec mirrors a realistic catalogue list.
var productsSpec = Spec{
	Resource: "products",
	Fields:   []string{"id", "sku", "name", "description", "price_cents", "currency", "stock", "category", "created_at", "updated_at"},
	Sorts:    []string{"created_at", "price_cents", "name"}, DefaultSort: "-created_at",
	Filters: map[string]FilterKind{
		"category": FilterString, "min_price_cents": FilterNonNegInt, "max_price_cents": FilterNonNegInt, "in_stock": FilterBool, "q": FilterString,
	},
	DefaultLimit: 20, MaxLimit: 100,
}

func BenchmarkParse(b *testing.B) {
	values, _ := url.ParseQuery("fields=id,name,price_cents&sort=-price_cents&limit=50&category=books&in_stock=true&min_price_cents=100")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(productsSpec, values); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCursorEncode(b *testing.B) {
	c := NewCodec(testKey)
	ts := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		c.Encode(testBinding, ts, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	}
}

func BenchmarkCursorDecode(b *testing.B) {
	c := NewCodec(testKey)
	cur := c.Encode(testBinding, time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC), "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(testBinding, cur); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProject(b *testing.B) {
	full := map[string]any{
		"id": "0190a1b2", "sku": "MUG-1", "name": "Blue mug", "description": "A mug.", "price_cents": int64(1299),
		"currency": "EUR", "stock": int64(12), "category": "kitchen",
		"created_at": time.Now(), "updated_at": time.Now(),
	}
	values, _ := url.ParseQuery("fields=id,name,price_cents")
	p, err := Parse(productsSpec, values)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		Project(full, p)
	}
}
