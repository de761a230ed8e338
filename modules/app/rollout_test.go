package app

import (
	"fmt"
	"strings"
	"testing"
)

// setRollout gives products.search_sku_match's "on" variant pct % of users,
// the way an operator raises a canary step by step.
func (s *testServer) setRollout(admin string, pct int) {
	s.t.Helper()
	r := s.do("PUT", "/v1/admin/flags/products.search_sku_match", admin, map[string]any{
		"state": "ENABLED", "variants": map[string]any{"on": true, "off": false}, "defaultVariant": "off",
		"targeting": map[string]any{"fractional": []any{[]any{"on", pct}, []any{"off", 100 - pct}}},
	})
	expect(s.t, r, 200)
}

// The products.search_sku_match rollout: callers in the rollout find a
// product by SKU prefix through q, the others by name only. The share is
// raised at runtime, each caller's variant is sticky, a raised share keeps
// everyone already in, and the cached pages of the two variants never mix.
func TestSearchSKUMatchRollout(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := startServer(t, testConfig(t, kind))
		admin := s.adminToken()
		s.createProduct(admin, map[string]any{"sku": "CUP-1", "name": "Blue mug"})
		s.createProduct(admin, map[string]any{"sku": "mugx-7", "name": "Kettle"})
		s.createProduct(admin, map[string]any{"sku": "PLATE-1", "name": "Plate"})

		const users = 16
		tokens := make([]string, users)
		for i := range tokens {
			_, tokens[i] = s.register(fmt.Sprintf("rollout%d@example.com", i))
		}
		// inRollout reports whether the caller's q=MUG search also found the
		// product whose SKU (not name) starts with "mug".
		inRollout := func(token string) bool {
			t.Helper()
			r := s.do("GET", "/v1/products?q=MUG&fields=sku", token, nil)
			expect(t, r, 200)
			if cc := r.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "private") {
				t.Fatalf("a search answer depends on the caller but has Cache-Control %q", cc)
			}
			if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Authorization") {
				t.Fatalf("a search answer lacks Vary: Authorization: %v", r.Header)
			}
			var skus []string
			for _, p := range r.JSON(t)["data"].([]any) {
				skus = append(skus, p.(map[string]any)["sku"].(string))
			}
			switch strings.Join(skus, ",") {
			case "CUP-1":
				return false
			case "mugx-7,CUP-1", "CUP-1,mugx-7":
				return true
			}
			t.Fatalf("q=MUG found %v", skus)
			return false
		}
		variants := func() []bool {
			out := make([]bool, users)
			for i, tok := range tokens {
				out[i] = inRollout(tok)
			}
			return out
		}
		count := func(v []bool) (n int) {
			for _, in := range v {
				if in {
					n++
				}
			}
			return n
		}

		s.setRollout(admin, 0)
		if n := count(variants()); n != 0 {
			t.Fatalf("0%% rollout: %d users in", n)
		}
		s.setRollout(admin, 50)
		half := variants()
		if n := count(half); n == 0 || n == users {
			t.Fatalf("50%% rollout: %d of %d users in; want a mix", n, users)
		}
		for i, in := range variants() { // cached pages now: still each caller's own variant
			if in != half[i] {
				t.Fatalf("user %d flipped from %v to %v at the same share", i, half[i], in)
			}
		}
		s.setRollout(admin, 80)
		more := variants()
		for i := range half {
			if half[i] && !more[i] {
				t.Fatalf("user %d was in at 50%% and is out at 80%%", i)
			}
		}
		s.setRollout(admin, 100)
		if n := count(variants()); n != users {
			t.Fatalf("100%% rollout: %d of %d users in", n, users)
		}
		// Lists without q are not affected and stay public.
		r := s.do("GET", "/v1/products?fields=sku", tokens[0], nil)
		expect(t, r, 200)
		if cc := r.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public") {
			t.Fatalf("a list without q has Cache-Control %q", cc)
		}
	})
}
