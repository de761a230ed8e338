package query

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"example.com/productapi/platform/apperr"
)

// testSpec is an orders-like resource exercising every Spec feature.
var testSpec = Spec{
	Resource: "orders",
	Fields:   []string{"id", "user_id", "status", "total_cents", "created_at"},
	Includes: map[string][]string{
		"items":    {"product_id", "sku", "name", "quantity"},
		"payments": {"id", "status"},
	},
	Sorts:       []string{"created_at", "total_cents", "status"},
	DefaultSort: "-created_at",
	Filters: map[string]FilterKind{
		"status": FilterString, "min_total": FilterInt, "paid": FilterBool, "user_id": FilterID,
		"max_items": FilterNonNegInt,
	},
	DefaultLimit: 20, MaxLimit: 100,
}

func mustQuery(t testing.TB, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", q, err)
	}
	return v
}

func mustParse(t testing.TB, q string) Params {
	t.Helper()
	p, err := Parse(testSpec, mustQuery(t, q))
	if err != nil {
		t.Fatalf("Parse(%q): %v", q, err)
	}
	return p
}

// wantInvalid asserts err is a KindInvalid *apperr.Error with the code and
// a message containing every fragment.
func wantInvalid(t testing.TB, err error, code string, fragments ...string) {
	t.Helper()
	var e *apperr.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *apperr.Error", err, err)
	}
	if e.Kind != apperr.KindInvalid {
		t.Errorf("kind = %v, want KindInvalid (%v)", e.Kind, e)
	}
	if e.Code != code {
		t.Errorf("code = %q, want %q (%v)", e.Code, code, e)
	}
	for _, f := range fragments {
		if !strings.Contains(e.Message, f) {
			t.Errorf("message %q does not contain %q", e.Message, f)
		}
	}
}
