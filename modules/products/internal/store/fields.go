package store

import (
	"encoding/json"

	"example.com/productapi/platform/query"
)

// field is one field of a product's representation. The table below is the
// only place the field list is written: the query allow-list (Spec), the
// column allow-list (Columns), the sparse projection and the cursor's sort
// value are all built from it.
type field struct {
	name   string // API field name and JSON key (products.Product's tag)
	column string // its column in the products table
	// sort is the field's position among the sorts (1 first: error
	// messages list them in this order); 0: not sortable.
	sort    int
	filters []filter
	value   func(Row) any // the value rendered (and, if sorted on, put in cursors)
}

// filter is a query filter that applies to the field.
type filter struct {
	name string
	kind query.FilterKind
}

var fields = []field{
	{name: "id", column: "id", value: func(r Row) any { return r.ID }},
	{name: "sku", column: "sku", value: func(r Row) any { return r.SKU }},
	{name: "name", column: "name", sort: 3, filters: []filter{{"q", query.FilterString}},
		value: func(r Row) any { return r.Name }},
	{name: "description", column: "description", value: func(r Row) any { return r.Description }},
	{name: "price_cents", column: "price_cents", sort: 2,
		filters: []filter{{"min_price_cents", query.FilterNonNegInt}, {"max_price_cents", query.FilterNonNegInt}},
		value:   func(r Row) any { return r.PriceCents }},
	{name: "currency", column: "currency", value: func(r Row) any { return r.Currency }},
	{name: "stock", column: "stock", filters: []filter{{"in_stock", query.FilterBool}}, value: func(r Row) any { return r.Stock }},
	{name: "category", column: "category", filters: []filter{{"category", query.FilterString}},
		value: func(r Row) any { return r.Category }},
	{name: "created_at", column: "created_at", sort: 1, value: func(r Row) any { return r.CreatedAt.UTC() }},
	{name: "updated_at", column: "updated_at", value: func(r Row) any { return r.UpdatedAt.UTC() }},
}

// Spec is the allow-list of GET /v1/products (fields, sorts, filters).
var Spec = spec()

// Columns maps API fields to columns. It is the allow-list that keeps
// request input out of SQL identifiers.
var Columns = columns()

var byName = func() map[string]field {
	m := make(map[string]field, len(fields))
	for _, f := range fields {
		m[f.name] = f
	}
	return m
}()

func spec() query.Spec {
	s := query.Spec{Resource: "products", DefaultSort: "-created_at", Filters: map[string]query.FilterKind{},
		DefaultLimit: 20, MaxLimit: 100}
	for _, f := range fields {
		s.Fields = append(s.Fields, f.name)
		if f.sort > 0 {
			s.Sorts = append(s.Sorts, "")
		}
		for _, fl := range f.filters {
			s.Filters[fl.name] = fl.kind
		}
	}
	for _, f := range fields {
		if f.sort > 0 {
			s.Sorts[f.sort-1] = f.name
		}
	}
	return s
}

func columns() map[string]string {
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		m[f.name] = f.column
	}
	return m
}

// render encodes a product projected to p's fieldset (all fields when p
// names none, in products.Product's order).
func render(r Row, p query.Params) ([]byte, error) {
	if p.Fields == nil {
		return json.Marshal(r.ToProduct())
	}
	full := make(map[string]any, len(fields))
	for _, f := range fields {
		full[f.name] = f.value(r)
	}
	return json.Marshal(query.Project(full, p))
}

// sortValue is r's value of the sort field, as a cursor carries it.
func sortValue(r Row, sortField string) any { return byName[sortField].value(r) }
