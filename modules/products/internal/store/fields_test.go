package store

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"example.com/productapi/modules/products"
	"example.com/productapi/platform/query"
)

// The field table is products.Product's JSON shape: the same keys in the
// same order, and a fieldset naming every field renders the same values.
func TestFieldTableMatchesTheProductRepresentation(t *testing.T) {
	typ := reflect.TypeFor[products.Product]()
	if typ.NumField() != len(fields) {
		t.Fatalf("products.Product has %d fields, the table %d", typ.NumField(), len(fields))
	}
	for i, f := range fields {
		if tag := typ.Field(i).Tag.Get("json"); tag != f.name {
			t.Errorf("field %d: table %q, products.Product %q", i, f.name, tag)
		}
	}

	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	row := Row{ID: "id1", SKU: "S-1", Name: "Lamp", Description: "d", PriceCents: 1299, Currency: "EUR", Stock: 3,
		Category: "home", Version: 2, CreatedAt: now, UpdatedAt: now.Add(time.Hour)}
	full, err := render(row, query.Params{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := query.ParseFields(Spec, url.Values{"fields": {strings.Join(Spec.Fields, ",")}})
	if err != nil {
		t.Fatal(err)
	}
	sparse, err := render(row, p)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	if err := json.Unmarshal(full, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sparse, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("every field projected:\n%s\nfull:\n%s", sparse, full)
	}
	for _, f := range fields {
		if f.sort > 0 {
			if got := sortValue(row, f.name); !reflect.DeepEqual(got, f.value(row)) {
				t.Errorf("sortValue(%s) = %v", f.name, got)
			}
		}
	}
	if got, want := Spec.Sorts, []string{"created_at", "price_cents", "name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sorts %v, want %v (error messages list them in this order)", got, want)
	}
}
