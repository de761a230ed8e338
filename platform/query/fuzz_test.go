package query

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"example.com/productapi/platform/apperr"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "fields=id,status&include=items&sort=-total_cents&limit=5&status=paid",
		"fields=items.sku&include=items", "fields=,", "sort=-", "limit=0", "cursor=abc",
		"min_total=-1&paid=true&user_id=u1", "max_items=-1", "max_items=0", "status=%FF", "a=1&a=2", "include=items,payments&fields=payments.id",
		"fields=id%2Citems", "sort=%20-status", "=&&=", "limit=+5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		values, _ := url.ParseQuery(q) // partial values on error are still input
		for name, parse := range map[string]func(Spec, url.Values) (Params, error){"Parse": Parse, "ParseFields": ParseFields} {
			p, err := parse(testSpec, values)
			if err != nil {
				var e *apperr.Error
				if !errors.As(err, &e) || e.Kind != apperr.KindInvalid || !strings.HasPrefix(e.Code, "query.") {
					t.Fatalf("%s: error %#v is not a query.* KindInvalid *apperr.Error", name, err)
				}
				if len(e.Message) > 600 {
					t.Fatalf("%s: message of %d bytes", name, len(e.Message))
				}
				continue
			}
			checkParams(t, p, name == "Parse")
			p.Binding()
			p.Columns(map[string]string{"id": "id", "status": "status", "created_at": "created_at"}, "id")
			Project(fullOrder(), p)
		}
	})
}

// checkParams asserts invariants of every accepted request: nothing that
// is not on the allow-list gets through.
func checkParams(t *testing.T, p Params, list bool) {
	t.Helper()
	for _, f := range p.Fields {
		if f != "id" && !slices.Contains(testSpec.Fields, f) {
			t.Fatalf("field %q accepted", f)
		}
	}
	for _, inc := range p.Include {
		nested, ok := p.Nested[inc]
		if _, allowed := testSpec.Includes[inc]; !allowed || !ok {
			t.Fatalf("include %q accepted", inc)
		}
		for _, f := range nested {
			if !slices.Contains(testSpec.Includes[inc], f) {
				t.Fatalf("nested field %s.%s accepted", inc, f)
			}
		}
	}
	if len(p.Nested) != len(p.Include) {
		t.Fatalf("nested %v without include %v", p.Nested, p.Include)
	}
	if !list {
		if p.Sort != (Sort{}) || p.Limit != 0 || p.Cursor != "" || p.Filters != nil {
			t.Fatalf("single-resource params carry list parts: %+v", p)
		}
		return
	}
	if !slices.Contains(testSpec.Sorts, p.Sort.Field) {
		t.Fatalf("sort %q accepted", p.Sort.Field)
	}
	if p.Limit < 1 || p.Limit > 100 {
		t.Fatalf("limit %d accepted", p.Limit)
	}
	for name, v := range p.Filters {
		switch testSpec.Filters[name] {
		case FilterInt:
			_, ok := v.(int64)
			if !ok {
				t.Fatalf("filter %s = %#v", name, v)
			}
		case FilterNonNegInt:
			if n, ok := v.(int64); !ok || n < 0 {
				t.Fatalf("filter %s = %#v", name, v)
			}
		case FilterBool:
			if _, ok := v.(bool); !ok {
				t.Fatalf("filter %s = %#v", name, v)
			}
		default:
			if s, ok := v.(string); !ok || s == "" {
				t.Fatalf("filter %s = %#v", name, v)
			}
		}
	}
}

// FuzzCheckRawQuery: a raw query string is either accepted whole (net/url
// parses it without dropping a pair, every key and value is text a store
// can hold, and Parse then types it or refuses it cleanly) or refused with
// a query.syntax error; never a panic, never a parse error ignored.
func FuzzCheckRawQuery(f *testing.F) {
	for _, s := range []string{
		"", "fields=id;name", "limit=1;fields=id", "fields=%zz", "q=%00", "q=%FF", "q=caf%C3%A9+x",
		"a=&&b&=c", "fields=id,status&limit=5&status=paid", "%", "a%2", "x=\xff", "k=%ED%A0%80", "a=1&a=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		err := CheckRawQuery(q)
		values, perr := url.ParseQuery(q)
		if err != nil {
			var e *apperr.Error
			if !errors.As(err, &e) || e.Kind != apperr.KindInvalid || e.Code != CodeSyntax {
				t.Fatalf("error %#v is not a query.syntax KindInvalid *apperr.Error", err)
			}
			if len(e.Message) > 600 || !utf8.ValidString(e.Message) {
				t.Fatalf("message %q", e.Message)
			}
			return
		}
		if perr != nil {
			t.Fatalf("accepted %q, which net/url refuses: %v", q, perr)
		}
		pairs := 0
		for _, p := range strings.Split(q, "&") {
			if p != "" {
				pairs++
			}
		}
		n := 0
		for k, vs := range values {
			for _, v := range append([]string{k}, vs...) {
				if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
					t.Fatalf("accepted %q with the key or value %q", q, v)
				}
			}
			n += len(vs)
		}
		if n != pairs {
			t.Fatalf("accepted %q: %d pairs, %d values", q, pairs, n)
		}
		if p, err := Parse(testSpec, values); err == nil {
			checkParams(t, p, true)
		}
	})
}

func FuzzCursorDecode(f *testing.F) {
	c := NewCodec(testKey)
	for _, seed := range []struct {
		v  any
		id string
	}{
		{"mug", "id-1"}, {int64(-42), "x"}, {time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), "0190a1b2"}, {"", ""},
	} {
		f.Add(testBinding, c.Encode(testBinding, seed.v, seed.id))
		f.Add("other", c.Encode(testBinding, seed.v, seed.id))
	}
	f.Add(testBinding, "")
	f.Add(testBinding, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, binding, cursor string) {
		ks, err := c.Decode(binding, cursor)
		if err != nil {
			var e *apperr.Error
			if !errors.As(err, &e) || e.Kind != apperr.KindInvalid || e.Code != CodeCursor {
				t.Fatalf("error %#v is not a query.cursor KindInvalid *apperr.Error", err)
			}
			return
		}
		if again := c.Encode(binding, ks.Value, ks.ID); again != cursor {
			t.Fatalf("accepted cursor %q re-encodes to %q", cursor, again)
		}
	})
}

// FuzzCursorRoundTrip: whatever the server encodes, it decodes to the same.
func FuzzCursorRoundTrip(f *testing.F) {
	c := NewCodec(testKey)
	f.Add(uint8(0), "mug", int64(7), int64(1700000000), uint32(5), "id-1", testBinding)
	f.Fuzz(func(t *testing.T, kind uint8, s string, n, sec int64, nsec uint32, id, binding string) {
		var v any
		switch kind % 3 {
		case 0:
			v = s
		case 1:
			v = n
		default:
			v = time.Unix(sec, int64(nsec%1e9)).UTC()
		}
		cur := c.Encode(binding, v, id)
		ks, err := c.Decode(binding, cur)
		if len(cur) > MaxCursorLen {
			if err == nil {
				t.Fatal("over-long cursor accepted")
			}
			return
		}
		if err != nil {
			t.Fatalf("Decode(Encode(%#v, %q)): %v", v, id, err)
		}
		if ks.ID != id {
			t.Fatalf("id %q, want %q", ks.ID, id)
		}
		if tv, ok := v.(time.Time); ok {
			if got, ok := ks.Value.(time.Time); !ok || !got.Equal(tv) {
				t.Fatalf("value %#v, want %v", ks.Value, tv)
			}
		} else if ks.Value != v {
			t.Fatalf("value %#v, want %#v", ks.Value, v)
		}
	})
}
