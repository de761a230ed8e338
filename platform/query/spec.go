// Package query turns list and read query strings (fields, include, sort,
// limit, cursor and filters) into validated, typed parameters, and provides
// the pieces every list endpoint shares: a signed keyset cursor codec, a
// dialect-neutral GORM keyset helper and sparse JSON projection.
//
// It knows nothing about any resource: each resource describes what a client
// may ask for in a Spec (an allow-list), and everything not on it is a 400
// (*apperr.Error of KindInvalid) naming the offending parameter or value.
// Because sort fields and selected fields are always checked against the
// Spec, the identifiers that reach SQL come from code, never from a request.
package query

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// FilterKind says how a filter's value is parsed and validated.
type FilterKind int

const (
	// FilterString is free text: non-empty, valid UTF-8 without NUL, at most
	// MaxStringFilter characters.
	FilterString FilterKind = iota
	// FilterInt is a base-10 int64.
	FilterInt
	// FilterBool is exactly "true" or "false".
	FilterBool
	// FilterID is an opaque identifier: 1..MaxIDFilter visible ASCII bytes.
	FilterID
	// FilterNonNegInt is a base-10 int64 >= 0 (amounts, counts): a
	// negative one is a 400, not an empty page.
	FilterNonNegInt
)

// Limits on filter values. They keep hostile input away from the database
// (Postgres rejects NUL and invalid UTF-8 with an error that would be a 500).
const (
	MaxStringFilter = 200 // characters (runes)
	MaxIDFilter     = 64  // bytes
	// MaxFieldsParam bounds the fields parameter (bytes): every real
	// fieldset is far shorter, and a huge one is only work for the parser.
	MaxFieldsParam = 1024
)

// Fallbacks for a Spec that leaves its limits at zero.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Reserved parameter names; filters may not use them.
const (
	ParamFields  = "fields"
	ParamInclude = "include"
	ParamSort    = "sort"
	ParamLimit   = "limit"
	ParamCursor  = "cursor"
)

var reserved = []string{ParamFields, ParamInclude, ParamSort, ParamLimit, ParamCursor}

// Spec is the allow-list of one resource. It is written in code (usually a
// package-level var next to the handlers) and never derived from a request.
type Spec struct {
	// Resource names the resource ("products"); it is part of every cursor
	// binding so a cursor of one list is useless on another.
	Resource string
	// Fields are the selectable top-level JSON field names. "id" is always
	// selectable even when it is not listed. The order here is the
	// canonical order of Params.Fields and Params.Columns.
	Fields []string
	// Includes maps an includable relation to its selectable nested fields.
	Includes map[string][]string
	// Sorts are the sortable fields; the id is always the tie-breaker.
	Sorts []string
	// DefaultSort is used without ?sort=, e.g. "-created_at". Empty means
	// ascending by id.
	DefaultSort string
	// Filters maps each accepted filter parameter to its kind.
	Filters map[string]FilterKind
	// DefaultLimit and MaxLimit bound ?limit= (0 means 20 and 100).
	DefaultLimit, MaxLimit int
}

func (s Spec) limits() (def, max int) {
	def, max = s.DefaultLimit, s.MaxLimit
	if max <= 0 {
		max = MaxLimit
	}
	if def <= 0 || def > max {
		def = min(DefaultLimit, max)
	}
	return def, max
}

// defaultSort returns the Sort used when the request has no ?sort=.
func (s Spec) defaultSort() Sort {
	if s.DefaultSort == "" {
		return Sort{Field: "id"}
	}
	f, desc := strings.CutPrefix(s.DefaultSort, "-")
	return Sort{Field: f, Desc: desc}
}

// Validate reports mistakes in a Spec. Parse trusts its Spec, so call this
// from a test of every resource's Spec (it is cheap but not free per request).
func (s Spec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Resource == "" {
		bad("query: Spec.Resource is empty")
	}
	for _, f := range s.Fields {
		if !isName(f) {
			bad("query: field %q is not a plain name", f)
		}
	}
	for inc, nested := range s.Includes {
		if !isName(inc) {
			bad("query: include %q is not a plain name", inc)
		}
		for _, f := range nested {
			if !isName(f) {
				bad("query: nested field %q of include %q is not a plain name", f, inc)
			}
		}
	}
	for _, f := range s.Sorts {
		if !isName(f) {
			bad("query: sort field %q is not a plain name", f)
		}
	}
	if s.DefaultSort != "" {
		if ds := s.defaultSort(); !slices.Contains(s.Sorts, ds.Field) {
			bad("query: DefaultSort %q is not in Sorts", s.DefaultSort)
		}
	}
	for name, kind := range s.Filters {
		if slices.Contains(reserved, name) {
			bad("query: filter %q uses a reserved parameter name", name)
		}
		if !isName(name) {
			bad("query: filter %q is not a plain name", name)
		}
		if kind < FilterString || kind > FilterNonNegInt {
			bad("query: filter %q has unknown kind %d", name, kind)
		}
	}
	if s.MaxLimit < 0 || s.DefaultLimit < 0 || (s.MaxLimit > 0 && s.DefaultLimit > s.MaxLimit) {
		bad("query: limits default=%d max=%d are inconsistent", s.DefaultLimit, s.MaxLimit)
	}
	return errors.Join(errs...)
}

// isName accepts the identifiers a Spec may use: non-empty, no separators
// the parser gives meaning to (comma, dot, minus prefix) and no spaces.
func isName(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == ',' || c == '.' || c >= 0x7f {
			return false
		}
	}
	return true
}
