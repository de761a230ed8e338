package query

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestParseAccepts(t *testing.T) {
	multi := strings.Repeat("é", MaxStringFilter) // 200 runes, 400 bytes
	tests := []struct {
		name  string
		query string
		check func(t *testing.T, p Params)
	}{
		{"defaults", "", func(t *testing.T, p Params) {
			want := Params{Resource: "orders", Sort: Sort{"created_at", true}, Limit: 20, allFields: testSpec.Fields}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("got %+v, want %+v", p, want)
			}
		}},
		{"fields in spec order, deduplicated, trimmed", "fields=+status+,id,status,%20id", func(t *testing.T, p Params) {
			eq(t, p.Fields, []string{"id", "status"})
		}},
		{"include sorted, nested nil means all", "include=payments,items,items", func(t *testing.T, p Params) {
			eq(t, p.Include, []string{"items", "payments"})
			if len(p.Nested) != 2 || p.Nested["items"] != nil || p.Nested["payments"] != nil {
				t.Errorf("nested = %#v", p.Nested)
			}
			if p.Fields != nil {
				t.Errorf("fields = %#v, want nil", p.Fields)
			}
		}},
		{"dotted nested fields in spec order", "include=items&fields=id,items.sku,items.product_id,items.sku", func(t *testing.T, p Params) {
			eq(t, p.Fields, []string{"id"})
			eq(t, p.Nested["items"], []string{"product_id", "sku"})
		}},
		{"bare relation name with include", "include=items&fields=id,items", func(t *testing.T, p Params) {
			eq(t, p.Fields, []string{"id"})
			if p.Nested["items"] != nil {
				t.Errorf("nested items = %#v, want nil (all)", p.Nested["items"])
			}
		}},
		{"only nested fields: empty top-level selection", "include=items&fields=items.sku", func(t *testing.T, p Params) {
			if p.Fields == nil || len(p.Fields) != 0 {
				t.Errorf("fields = %#v, want empty non-nil", p.Fields)
			}
		}},
		{"nested field named like a top-level one", "include=payments&fields=payments.status", func(t *testing.T, p Params) {
			eq(t, p.Nested["payments"], []string{"status"})
		}},
		{"sort ascending", "sort=total_cents", func(t *testing.T, p Params) {
			if p.Sort != (Sort{"total_cents", false}) {
				t.Errorf("sort = %+v", p.Sort)
			}
		}},
		{"sort descending", "sort=-status", func(t *testing.T, p Params) {
			if p.Sort != (Sort{"status", true}) || p.Sort.String() != "-status" {
				t.Errorf("sort = %+v", p.Sort)
			}
		}},
		{"limit lower bound", "limit=1", func(t *testing.T, p Params) { eqInt(t, p.Limit, 1) }},
		{"limit upper bound", "limit=100", func(t *testing.T, p Params) { eqInt(t, p.Limit, 100) }},
		{"cursor kept raw", "cursor=abc_-", func(t *testing.T, p Params) {
			if p.Cursor != "abc_-" {
				t.Errorf("cursor = %q", p.Cursor)
			}
		}},
		{"typed filters", "status=paid&min_total=-5&paid=false&user_id=0190a1b2-c3d4", func(t *testing.T, p Params) {
			want := map[string]any{"status": "paid", "min_total": int64(-5), "paid": false, "user_id": "0190a1b2-c3d4"}
			if !reflect.DeepEqual(p.Filters, want) {
				t.Errorf("filters = %#v", p.Filters)
			}
			if v, ok := p.String("status"); !ok || v != "paid" {
				t.Errorf("String(status) = %q, %v", v, ok)
			}
			if v, ok := p.Int("min_total"); !ok || v != -5 {
				t.Errorf("Int(min_total) = %d, %v", v, ok)
			}
			if v, ok := p.Bool("paid"); !ok || v {
				t.Errorf("Bool(paid) = %v, %v", v, ok)
			}
			if v, ok := p.Filter("user_id"); !ok || v != "0190a1b2-c3d4" {
				t.Errorf("Filter(user_id) = %v, %v", v, ok)
			}
			if _, ok := p.Int("status"); ok {
				t.Error("Int on a string filter must report false")
			}
			eq(t, p.FilterNames(), []string{"min_total", "paid", "status", "user_id"})
		}},
		{"absent filters", "", func(t *testing.T, p Params) {
			if _, ok := p.String("status"); ok {
				t.Error("absent filter reported present")
			}
		}},
		{"string filter of 200 multi-byte characters", "status=" + url.QueryEscape(multi), func(t *testing.T, p Params) {
			if v, _ := p.String("status"); v != multi {
				t.Error("value changed")
			}
		}},
		{"non-negative filter bounds", "max_items=0", func(t *testing.T, p Params) {
			if v, ok := p.Int("max_items"); !ok || v != 0 {
				t.Errorf("Int(max_items) = %d, %v", v, ok)
			}
		}},
		{"int filter extremes", "min_total=-9223372036854775808", func(t *testing.T, p Params) {
			if v, _ := p.Int("min_total"); v != -9223372036854775808 {
				t.Errorf("got %d", v)
			}
		}},
		{"id filter of 64 chars", "user_id=" + strings.Repeat("a", 64), func(t *testing.T, p Params) {
			if _, ok := p.String("user_id"); !ok {
				t.Error("missing")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustParse(t, tt.query))
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		code      string
		fragments []string
	}{
		{"empty fields", "fields=", CodeFields, []string{"fields must not be empty"}},
		{"blank fields", "fields=+", CodeFields, []string{"fields must not be empty"}},
		{"empty entry in fields", "fields=id,,status", CodeFields, []string{"empty entry"}},
		{"trailing comma in fields", "fields=id,", CodeFields, []string{"empty entry"}},
		{"leading comma in fields", "fields=,id", CodeFields, []string{"empty entry"}},
		{"unknown field", "fields=id,foo", CodeFields, []string{`unknown field "foo" in fields`, "allowed: id, user_id"}},
		{"field case matters", "fields=ID", CodeFields, []string{`unknown field "ID"`}},
		{"dotted field without include", "fields=items.sku", CodeFields, []string{`field "items.sku" in fields needs include=items`}},
		{"bare relation without include", "fields=items", CodeFields, []string{`field "items" in fields needs include=items`}},
		{"dotted field of another include", "include=items&fields=payments.id", CodeFields, []string{`field "payments.id" in fields needs include=payments`}},
		{"unknown nested field", "include=items&fields=items.price", CodeFields, []string{`unknown field "items.price" in fields`, "items.{product_id,sku,name,quantity}"}},
		{"unknown relation in dotted field", "fields=bogus.sku", CodeFields, []string{`unknown field "bogus.sku" in fields`}},
		{"double dot", "include=items&fields=items.sku.x", CodeFields, []string{`unknown field "items.sku.x"`}},
		{"unknown include", "include=items,foo", CodeInclude, []string{`unknown include "foo"`, "allowed: items, payments"}},
		{"empty include", "include=", CodeInclude, []string{"include must not be empty"}},
		{"empty entry in include", "include=items,", CodeInclude, []string{"empty entry"}},
		{"unknown sort", "sort=foo", CodeSort, []string{`unknown sort field "foo"`, "allowed: created_at, total_cents, status"}},
		{"sort by unlisted field", "sort=user_id", CodeSort, []string{`unknown sort field "user_id"`}},
		{"double minus", "sort=--created_at", CodeSort, []string{`unknown sort field "-created_at"`}},
		{"empty sort", "sort=", CodeSort, []string{"sort must name a field"}},
		{"bare minus", "sort=-", CodeSort, []string{"sort must name a field"}},
		{"two sort fields", "sort=created_at,id", CodeSort, []string{"single field", `"created_at,id"`}},
		{"limit zero", "limit=0", CodeLimit, []string{"limit must be an integer from 1 to 100", `got "0"`}},
		{"limit over max", "limit=101", CodeLimit, []string{"limit must be an integer from 1 to 100", `got "101"`}},
		{"limit negative", "limit=-1", CodeLimit, []string{"limit must be"}},
		{"limit not a number", "limit=ten", CodeLimit, []string{`got "ten"`}},
		{"limit fraction", "limit=1.5", CodeLimit, []string{`got "1.5"`}},
		{"limit empty", "limit=", CodeLimit, []string{`got ""`}},
		{"limit overflow", "limit=99999999999999999999999", CodeLimit, []string{"limit must be"}},
		{"empty cursor", "cursor=", CodeCursor, []string{"cursor must not be empty"}},
		{"unknown parameter", "foo=1", CodeParameter, []string{`unknown query parameter "foo"`, "allowed: fields, include, sort, limit, cursor, max_items, min_total, paid, status, user_id"}},
		{"parameter case matters", "Limit=5", CodeParameter, []string{`unknown query parameter "Limit"`}},
		{"empty parameter name", "=x", CodeParameter, []string{`unknown query parameter ""`}},
		{"unknown parameter beside valid ones", "limit=5&stauts=paid", CodeParameter, []string{`"stauts"`}},
		{"first unknown alphabetically", "zeta=1&alpha=1&mid=1", CodeParameter, []string{`"alpha"`}},
		{"repeated limit", "limit=1&limit=2", CodeParameter, []string{`query parameter "limit" is repeated`}},
		{"repeated fields", "fields=id&fields=status", CodeParameter, []string{`"fields" is repeated`}},
		{"repeated filter", "status=a&status=b", CodeParameter, []string{`"status" is repeated`}},
		{"int filter not a number", "min_total=abc", CodeFilter, []string{"filter min_total must be a base-10 integer", `got "abc"`}},
		{"int filter hex", "min_total=0x10", CodeFilter, []string{"min_total", `"0x10"`}},
		{"int filter fraction", "min_total=1.5", CodeFilter, []string{"min_total"}},
		{"int filter empty", "min_total=", CodeFilter, []string{"min_total"}},
		{"int filter overflow", "min_total=9223372036854775808", CodeFilter, []string{"min_total"}},
		{"non-negative filter negative", "max_items=-1", CodeFilter, []string{"filter max_items must be a base-10 integer >= 0", `got "-1"`}},
		{"bool filter yes", "paid=yes", CodeFilter, []string{"filter paid must be true or false", `got "yes"`}},
		{"bool filter upper case", "paid=TRUE", CodeFilter, []string{"paid", `"TRUE"`}},
		{"bool filter 1", "paid=1", CodeFilter, []string{"paid"}},
		{"bool filter empty", "paid=", CodeFilter, []string{"paid"}},
		{"string filter empty", "status=", CodeFilter, []string{"filter status must not be empty"}},
		{"string filter too long", "status=" + strings.Repeat("x", MaxStringFilter+1), CodeFilter, []string{"filter status must be at most 200 characters"}},
		{"string filter invalid UTF-8", "status=%FF", CodeFilter, []string{"status", "UTF-8"}},
		{"string filter NUL", "status=a%00b", CodeFilter, []string{"status", "NUL"}},
		{"id filter empty", "user_id=", CodeFilter, []string{"filter user_id must be an id"}},
		{"id filter too long", "user_id=" + strings.Repeat("a", 65), CodeFilter, []string{"user_id"}},
		{"id filter with space", "user_id=a+b", CodeFilter, []string{"user_id", `"a b"`}},
		{"id filter non-ASCII", "user_id=%C3%A9", CodeFilter, []string{"user_id"}},
		{"first bad filter alphabetically", "status=&paid=no&min_total=x", CodeFilter, []string{"min_total"}},
		{"unknown beats bad values", "limit=0&bogus=1", CodeParameter, []string{`"bogus"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(testSpec, mustQuery(t, tt.query))
			if err == nil {
				t.Fatalf("accepted, got %+v", p)
			}
			wantInvalid(t, err, tt.code, tt.fragments...)
		})
	}
}

// Client input is echoed at most maxEcho bytes, escaped.
func TestErrorEchoIsBounded(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	tests := []struct{ name, query string }{
		{"unknown parameter", url.QueryEscape(long) + "=1"},
		{"unknown field", "fields=" + url.QueryEscape(long)},
		{"unknown include", "include=" + url.QueryEscape(long)},
		{"unknown sort", "sort=" + url.QueryEscape(long)},
		{"bad limit", "limit=" + strings.Repeat("9", 500)},
		{"bad int filter", "min_total=" + strings.Repeat("9", 500)},
		{"bad id filter", "user_id=" + strings.Repeat("a", 500)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(testSpec, mustQuery(t, tt.query))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, strings.Repeat("é", 33)) || strings.Contains(msg, strings.Repeat("9", 65)) ||
				strings.Contains(msg, strings.Repeat("a", 65)) {
				t.Errorf("message echoes more than %d bytes: %q", maxEcho, msg)
			}
			if !strings.Contains(msg, "...") {
				t.Errorf("truncation not marked: %q", msg)
			}
		})
	}
	t.Run("control characters are escaped", func(t *testing.T) {
		_, err := Parse(testSpec, url.Values{"a\nb\x1b[31m": {"1"}})
		wantInvalid(t, err, CodeParameter, `"a\nb\x1b[31m"`)
	})
}

func TestParseFields(t *testing.T) {
	t.Run("fields and include", func(t *testing.T) {
		p, err := ParseFields(testSpec, mustQuery(t, "fields=status,items.sku&include=items"))
		if err != nil {
			t.Fatal(err)
		}
		eq(t, p.Fields, []string{"status"})
		eq(t, p.Nested["items"], []string{"sku"})
		if p.Sort != (Sort{}) || p.Limit != 0 {
			t.Errorf("list-only parts set: %+v", p)
		}
	})
	t.Run("nothing", func(t *testing.T) {
		p, err := ParseFields(testSpec, url.Values{})
		if err != nil || p.Fields != nil || p.Include != nil {
			t.Fatalf("got %+v, %v", p, err)
		}
	})
	for _, q := range []string{"limit=5", "sort=status", "cursor=x", "status=paid", "foo=1"} {
		t.Run("rejects "+q, func(t *testing.T) {
			_, err := ParseFields(testSpec, mustQuery(t, q))
			name, _, _ := strings.Cut(q, "=")
			wantInvalid(t, err, CodeParameter, `query parameter "`+name+`" is not supported when reading a single resource`)
		})
	}
	t.Run("repeated", func(t *testing.T) {
		_, err := ParseFields(testSpec, mustQuery(t, "fields=id&fields=id"))
		wantInvalid(t, err, CodeParameter, `"fields" is repeated`)
	})
	t.Run("bad field", func(t *testing.T) {
		_, err := ParseFields(testSpec, mustQuery(t, "fields=nope"))
		wantInvalid(t, err, CodeFields, `unknown field "nope"`)
	})
}

func TestSpecDefaults(t *testing.T) {
	spec := Spec{Resource: "things", Fields: []string{"name"}} // no id, no sorts, zero limits
	tests := []struct {
		name  string
		query string
		check func(t *testing.T, p Params, err error)
	}{
		{"id selectable though not listed", "fields=name,id", func(t *testing.T, p Params, err error) {
			if err != nil {
				t.Fatal(err)
			}
			eq(t, p.Fields, []string{"id", "name"})
		}},
		{"default sort is id", "", func(t *testing.T, p Params, err error) {
			if err != nil || p.Sort != (Sort{Field: "id"}) || p.Limit != DefaultLimit {
				t.Fatalf("got %+v, %v", p, err)
			}
		}},
		{"max limit falls back", "limit=100", func(t *testing.T, p Params, err error) {
			if err != nil || p.Limit != 100 {
				t.Fatalf("got %+v, %v", p, err)
			}
		}},
		{"nothing to sort", "sort=name", func(t *testing.T, _ Params, err error) {
			wantInvalid(t, err, CodeSort, `unknown sort field "name"; things cannot be sorted`)
		}},
		{"nothing to include", "include=x", func(t *testing.T, _ Params, err error) {
			wantInvalid(t, err, CodeInclude, `unknown include "x"; things has nothing to include`)
		}},
		{"unknown field lists id", "fields=x", func(t *testing.T, _ Params, err error) {
			wantInvalid(t, err, CodeFields, "allowed: id, name")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(spec, mustQuery(t, tt.query))
			tt.check(t, p, err)
		})
	}
}

func TestSpecValidate(t *testing.T) {
	if err := testSpec.Validate(); err != nil {
		t.Fatalf("testSpec: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(s *Spec)
		want   string
	}{
		{"no resource", func(s *Spec) { s.Resource = "" }, "Resource is empty"},
		{"dotted field", func(s *Spec) { s.Fields = []string{"a.b"} }, `field "a.b"`},
		{"default sort not allowed", func(s *Spec) { s.DefaultSort = "-user_id" }, `DefaultSort "-user_id"`},
		{"reserved filter", func(s *Spec) { s.Filters = map[string]FilterKind{"limit": FilterInt} }, `filter "limit" uses a reserved`},
		{"bad kind", func(s *Spec) { s.Filters = map[string]FilterKind{"x": 42} }, "unknown kind"},
		{"bad limits", func(s *Spec) { s.DefaultLimit = 500 }, "inconsistent"},
		{"bad nested", func(s *Spec) { s.Includes = map[string][]string{"items": {"a,b"}} }, `nested field "a,b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSpec
			tt.mutate(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestHasAndIncludes(t *testing.T) {
	all := mustParse(t, "")
	some := mustParse(t, "fields=status&include=items")
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"no fieldset has everything", all.Has("total_cents"), true},
		{"fieldset has selected", some.Has("status"), true},
		{"fieldset lacks others", some.Has("total_cents"), false},
		{"included", some.Includes("items"), true},
		{"not included", some.Includes("payments"), false},
		{"nothing included", all.Includes("items"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestColumns(t *testing.T) {
	cols := map[string]string{
		"id": "id", "user_id": "user_id", "status": "status", "total_cents": "total", "created_at": "created_at",
	}
	tests := []struct {
		name   string
		query  string
		m      map[string]string
		always []string
		want   []string
	}{
		{"all fields in spec order plus always", "", cols, []string{"id", "version"},
			[]string{"id", "version", "user_id", "status", "total", "created_at"}},
		{"sparse adds sort and id", "fields=status&sort=-total_cents", cols, nil,
			[]string{"status", "total", "id"}},
		{"sparse with default sort", "fields=user_id", cols, []string{"version"},
			[]string{"version", "user_id", "created_at", "id"}},
		{"deduplicated", "fields=id,created_at&sort=created_at", cols, []string{"id", "id"},
			[]string{"id", "created_at"}},
		{"fields without a column skipped", "fields=status,total_cents", map[string]string{"status": "status"}, nil,
			[]string{"status", "id"}},
		{"nested-only fieldset selects keys only", "include=items&fields=items.sku", cols, nil,
			[]string{"created_at", "id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eq(t, mustParse(t, tt.query).Columns(tt.m, tt.always...), tt.want)
		})
	}
	t.Run("single resource has no sort column", func(t *testing.T) {
		p, err := ParseFields(testSpec, mustQuery(t, "fields=status"))
		if err != nil {
			t.Fatal(err)
		}
		eq(t, p.Columns(cols), []string{"status", "id"})
	})
	t.Run("hand-built params use the map in sorted order", func(t *testing.T) {
		eq(t, Params{}.Columns(map[string]string{"b": "b", "a": "a"}), []string{"a", "b", "id"})
	})
}

func TestBinding(t *testing.T) {
	base := mustParse(t, "sort=-total_cents&status=paid&min_total=7").Binding()
	same := []string{
		"min_total=7&status=paid&sort=-total_cents",                             // order
		"sort=-total_cents&status=paid&min_total=007",                           // canonical int
		"sort=-total_cents&status=paid&min_total=7&limit=3",                     // limit
		"sort=-total_cents&status=paid&min_total=7&fields=id",                   // fields
		"sort=-total_cents&status=paid&min_total=7&include=items",               // include
		"sort=-total_cents&status=paid&min_total=7&cursor=whatever",             // cursor
		"sort=-total_cents&status=paid&min_total=%2B7&fields=id,status&limit=1", // "+7"
	}
	for _, q := range same {
		t.Run("same "+q, func(t *testing.T) {
			if got := mustParse(t, q).Binding(); got != base {
				t.Errorf("binding %q, want %q", got, base)
			}
		})
	}
	different := []string{
		"sort=total_cents&status=paid&min_total=7",
		"sort=-created_at&status=paid&min_total=7",
		"status=paid&min_total=7",
		"sort=-total_cents&status=paid",
		"sort=-total_cents&status=paid&min_total=8",
		"sort=-total_cents&status=Paid&min_total=7",
		"sort=-total_cents&status=paid&min_total=7&paid=true",
		"sort=-total_cents&status=" + url.QueryEscape("paid&min_total=7"),
	}
	for _, q := range different {
		t.Run("different "+q, func(t *testing.T) {
			if got := mustParse(t, q).Binding(); got == base {
				t.Errorf("binding %q equals the base", got)
			}
		})
	}
	t.Run("resource", func(t *testing.T) {
		s := testSpec
		s.Resource = "invoices"
		p, err := Parse(s, mustQuery(t, "sort=-total_cents&status=paid&min_total=7"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Binding() == base {
			t.Error("binding ignores the resource")
		}
	})
}

func eq(t *testing.T, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func eqInt(t *testing.T, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("got %d, want %d", got, want)
	}
}
