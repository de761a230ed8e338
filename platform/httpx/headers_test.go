package httpx

import (
	"net/http"
	"testing"
)

func TestSetCanonicalIsSetWithOneArray(t *testing.T) {
	h := http.Header{}
	SetCanonical(h, "Etag", `"1"`, "Cache-Control", "no-store")
	if h.Get("ETag") != `"1"` || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", h)
	}
	// Adding to one header must not overwrite its neighbour in the shared array.
	h.Add("ETag", `"2"`)
	if got := h.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Fatalf("Cache-Control after an Add to ETag: %v", got)
	}
	if got := h.Values("ETag"); len(got) != 2 || got[1] != `"2"` {
		t.Fatalf("ETag after Add: %v", got)
	}
}
