package flagshttp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// A flag's variants keep its type: a boolean kill switch given string
// variants would serve "no" over OFREP while Bool falls back to its
// default (checkout stays open), so such a PUT is refused.
func TestPutKeepsFlagType(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			d := st.Open(t)
			a := newInstance(t, d, nil, "kind", writeSeed(t))
			ctx := context.Background()
			put := func(key, body string) map[string]any {
				t.Helper()
				w := a.do(t, http.MethodPut, "/v1/admin/flags/"+key, body)
				if w.Code != http.StatusUnprocessableEntity {
					t.Fatalf("PUT %s %s: %d %s", key, body, w.Code, w.Body)
				}
				return decode(t, w)
			}
			namesVariants := func(p map[string]any) bool {
				for _, e := range p["errors"].([]any) {
					if f, _ := e.(map[string]any)["field"].(string); f == "variants" || strings.HasPrefix(f, "variants.") {
						return true
					}
				}
				return false
			}
			// a registered (declared boolean) flag refuses string variants
			p := put(checkoutEnabled, `{"state":"ENABLED","variants":{"on":"yes","off":"no"},"defaultVariant":"off"}`)
			if !namesVariants(p) {
				t.Fatalf("problem does not name variants: %v", p)
			}
			// a flag of the seed file keeps its current (string) type
			if p := put("extra.colour", `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`); !namesVariants(p) {
				t.Fatalf("problem does not name variants: %v", p)
			}
			// mixed types inside one definition
			if p := put("extra.mixed", `{"state":"ENABLED","variants":{"a":true,"b":"x"},"defaultVariant":"a"}`); !namesVariants(p) {
				t.Fatalf("problem does not name variants: %v", p)
			}
			if !a.flags.Bool(ctx, checkoutEnabled, false) {
				t.Fatal("a refused PUT changed the kill switch")
			}
			// the same type is accepted (and switches checkout off)
			w := a.do(t, http.MethodPut, "/v1/admin/flags/"+checkoutEnabled, `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if a.flags.Bool(ctx, checkoutEnabled, true) {
				t.Fatal("kill switch not off")
			}
		})
	}
}

// A PUT without metadata keeps the stored metadata (description); an
// explicit metadata object replaces it.
func TestPutWithoutMetadataKeepsDescription(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			d := st.Open(t)
			a := newInstance(t, d, nil, "meta", writeSeed(t))
			desc := func() any {
				t.Helper()
				w := a.do(t, http.MethodGet, "/v1/admin/flags/"+checkoutEnabled, "")
				return decode(t, w)["metadata"].(map[string]any)["description"]
			}
			if got := desc(); got != "kill switch" {
				t.Fatalf("precondition: description %v", got)
			}
			w := a.do(t, http.MethodPut, "/v1/admin/flags/"+checkoutEnabled, `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if got := decode(t, w)["metadata"].(map[string]any)["description"]; got != "kill switch" {
				t.Fatalf("PUT answer lost the description: %v", got)
			}
			if got := desc(); got != "kill switch" {
				t.Fatalf("description after a PUT without metadata: %v", got)
			}
			w = a.do(t, http.MethodPut, "/v1/admin/flags/"+checkoutEnabled, `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on","metadata":{"description":"new"}}`)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if got := desc(); got != "new" {
				t.Fatalf("explicit metadata not stored: %v", got)
			}
		})
	}
}
