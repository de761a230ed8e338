package query

import (
	"net/url"
	"strings"
	"testing"
)

func TestFieldsParamIsBounded(t *testing.T) {
	spec := Spec{Resource: "things", Fields: []string{"id", "name"}, DefaultLimit: 20, MaxLimit: 100}
	long := strings.Repeat("id,name,", MaxFieldsParam/8) + "id"
	if _, err := ParseFields(spec, url.Values{"fields": {long}}); err == nil {
		t.Fatalf("a %d-byte fields parameter was accepted", len(long))
	}
	if _, err := ParseFields(spec, url.Values{"fields": {"id,name"}}); err != nil {
		t.Fatal(err)
	}
}
