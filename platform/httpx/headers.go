package httpx

import "net/http"

// SetCanonical does what h.Set(k, v) does for each key/value pair of kv,
// on the hot path of every response, with one allocation for all values:
// they share one array, each header getting a window of capacity 1 (an Add
// to one header reallocates instead of overwriting its neighbour), as
// Header.Clone lays values out. Keys must already be canonical
// (textproto.CanonicalMIMEHeaderKey; compute non-canonical ones like "ETag"
// once, not per request), because Set would canonicalize them and a
// non-canonical key in the map is invisible to Get.
func SetCanonical(h http.Header, kv ...string) {
	vals := make([]string, len(kv)/2)
	for i := range vals {
		vals[i] = kv[2*i+1]
		h[kv[2*i]] = vals[i : i+1 : i+1]
	}
}
