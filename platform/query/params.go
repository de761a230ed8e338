package query

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Sort is one allow-listed sort field; the id always breaks ties in the
// same direction.
type Sort struct {
	Field string
	Desc  bool
}

// String renders the sort as a client writes it ("-created_at").
func (s Sort) String() string {
	if s.Desc {
		return "-" + s.Field
	}
	return s.Field
}

// Params is a validated request. Every name in it comes from the Spec, so
// it is safe to map names to SQL identifiers through an allow-list map.
type Params struct {
	// Resource is the Spec's resource name.
	Resource string
	// Fields are the selected top-level fields in Spec order, deduplicated;
	// nil means all fields. It is non-nil but empty when ?fields= named only
	// nested fields (then only the included relations are returned).
	Fields []string
	// Nested maps every included relation to its selected nested fields in
	// Spec order; a nil slice means all of them. Nil when nothing is included.
	Nested map[string][]string
	// Include lists the included relations, sorted.
	Include []string
	// Sort is the requested or default sort. Zero for ParseFields.
	Sort Sort
	// Filters holds the present filters, typed by their FilterKind:
	// string (FilterString, FilterID), int64 (FilterInt, FilterNonNegInt),
	// bool (FilterBool).
	// Nil when no filter is present.
	Filters map[string]any
	// Limit is the page size (0 for ParseFields).
	Limit int
	// Cursor is the raw ?cursor= value; decode it with DecodeCursor.
	Cursor string

	// allFields is the Spec's field list, so Columns can answer "all
	// columns" in a stable order when Fields is nil.
	allFields []string
}

// Has reports whether field is part of the response: true when no fieldset
// was given or the fieldset names it. Use it to skip computing fields.
func (p Params) Has(field string) bool {
	return p.Fields == nil || slices.Contains(p.Fields, field)
}

// Includes reports whether the relation was asked for with ?include=.
func (p Params) Includes(name string) bool {
	return slices.Contains(p.Include, name)
}

// Filter returns a filter's typed value and whether it was given.
func (p Params) Filter(name string) (any, bool) {
	v, ok := p.Filters[name]
	return v, ok
}

// String returns a FilterString or FilterID filter.
func (p Params) String(name string) (string, bool) {
	v, ok := p.Filters[name].(string)
	return v, ok
}

// Int returns a FilterInt or FilterNonNegInt filter.
func (p Params) Int(name string) (int64, bool) {
	v, ok := p.Filters[name].(int64)
	return v, ok
}

// Bool returns a FilterBool filter.
func (p Params) Bool(name string) (bool, bool) {
	v, ok := p.Filters[name].(bool)
	return v, ok
}

// FilterNames returns the present filters' names, sorted, for callers that
// need a deterministic order (cache keys, logs).
func (p Params) FilterNames() []string {
	names := make([]string, 0, len(p.Filters))
	for n := range p.Filters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Columns returns the database columns a store must SELECT: always (first,
// e.g. "id", "version"), then the selected fields' columns (all fields when
// Fields is nil), then the sort column and the id column, which the cursor
// of the next page needs. Duplicates are dropped; the order is stable so the
// result can be part of a cache key. Fields without a column (computed ones,
// included relations) are skipped. fieldToColumn must be a fixed map in code:
// it is what keeps request input out of SQL identifiers.
func (p Params) Columns(fieldToColumn map[string]string, always ...string) []string {
	fields := p.Fields
	if fields == nil {
		fields = p.allFields
		if fields == nil { // Params not built by Parse: fall back to the map
			for f := range fieldToColumn {
				fields = append(fields, f)
			}
			slices.Sort(fields)
		}
	}
	cols := make([]string, 0, len(always)+len(fields)+2)
	add := func(c string) {
		// Linear search: column lists are short, a map would cost more.
		if c != "" && !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	for _, c := range always {
		add(c)
	}
	for _, f := range fields {
		add(fieldToColumn[f])
	}
	if p.Sort.Field != "" {
		add(fieldToColumn[p.Sort.Field])
	}
	if c, ok := fieldToColumn["id"]; ok {
		add(c)
	} else {
		add("id")
	}
	return cols
}

// Binding is the canonical identity of the result ordering a cursor belongs
// to: resource, sort and filters (typed values in canonical form, names
// sorted). Limit and fields are left out on purpose: changing the page size
// or the fieldset mid-walk is harmless, changing sort or filters is not.
func (p Params) Binding() string {
	var b strings.Builder
	b.Grow(32 + 24*len(p.Filters))
	b.WriteString(url.PathEscape(p.Resource))
	b.WriteString("?sort=")
	b.WriteString(url.QueryEscape(p.Sort.String()))
	for _, name := range p.FilterNames() {
		b.WriteByte('&')
		b.WriteString(url.QueryEscape(name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(canonical(p.Filters[name])))
	}
	return b.String()
}

// canonical formats a typed filter value so equal values bind equally
// ("007" and "7" are the same integer filter).
func canonical(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	default:
		return fmt.Sprint(v)
	}
}

// ParsePage parses a list request against spec and decodes its cursor
// (checked against the sort and filters it was made with), the first two
// steps of every list handler.
func ParsePage(spec Spec, values url.Values, codec *Codec) (Params, *Keyset, error) {
	p, err := Parse(spec, values)
	if err != nil {
		return p, nil, err
	}
	ks, err := p.DecodeCursor(codec)
	return p, ks, err
}
