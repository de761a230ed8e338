package query

import (
	"strings"
	"testing"

	"example.com/productapi/platform/apperr"
)

func TestCheckRawQuery(t *testing.T) {
	for _, tc := range []struct {
		raw, names string // names: "" accepts, else the part the error must quote
	}{
		{"", ""},
		{"fields=id,name&limit=5", ""},
		{"q=caf%C3%A9+lamp&sort=-price_cents", ""},
		{"a=&&b&=c", ""},
		{"fields=id;name", `"fields=id;name"`},
		{"limit=1;fields=id", `"limit=1;fields=id"`},
		{"fields=%zz", `"fields=%zz"`},
		{"ok=1&q=50%", `"q=50%"`},
		{"%2=x", `"%2=x"`},
		{"q=%00", `"q=%00"`},
		{"q%00=x", `"q%00=x"`},
		{"q=%FF", `"q=%FF"`},
		{"q=%C0%80", `"q=%C0%80"`}, // overlong NUL
		{"q=%ED%A0%80", `"q=%ED%A0%80"`},
		{"q=\xff", `"q=\xff"`},
		{"a=1&b=2;c=3&d=%zz", `"b=2;c=3"`}, // the first bad part
		{strings.Repeat("a=1&", 20000), "exceeded"},
	} {
		err := CheckRawQuery(tc.raw)
		if tc.names == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.raw, err)
			}
			continue
		}
		e, ok := err.(*apperr.Error)
		if !ok || e.Kind != apperr.KindInvalid || e.Code != CodeSyntax || !strings.Contains(e.Message, tc.names) {
			t.Errorf("%.40q: got %v, want a %s error naming %s", tc.raw, err, CodeSyntax, tc.names)
		}
	}
}

func TestCheckRawQueryPlainDoesNotAllocate(t *testing.T) {
	raw := "fields=id,name&limit=20&sort=-created_at&category=tools"
	if n := testing.AllocsPerRun(100, func() { _ = CheckRawQuery(raw) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
