package ids

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestNewIsValidAndTimeOrdered(t *testing.T) {
	prev := New()
	for i := 0; i < 1000; i++ {
		id := New()
		if !Valid(id) {
			t.Fatalf("New() = %q is not valid", id)
		}
		if id <= prev {
			t.Fatalf("IDs not increasing: %s then %s", prev, id)
		}
		prev = id
	}
}

func TestValid(t *testing.T) {
	id := New()
	for _, s := range []string{"", "1", "not-a-uuid", strings.ToUpper(id), "{" + id + "}", "urn:uuid:" + id,
		strings.ReplaceAll(id, "-", ""), id + " ", id[:35] + "g"} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
}

// FuzzValid: Valid accepts exactly the canonical lower-case UUID strings.
func FuzzValid(f *testing.F) {
	f.Add(New())
	f.Add("00000000-0000-0000-0000-000000000000")
	f.Add("ZZZZZZZZ-0000-0000-0000-000000000000")
	f.Add("%00")
	f.Fuzz(func(t *testing.T, s string) {
		ok := Valid(s)
		u, err := uuid.Parse(s)
		canonical := err == nil && u.String() == s
		if ok != canonical {
			t.Fatalf("Valid(%q) = %v, canonical = %v", s, ok, canonical)
		}
	})
}
