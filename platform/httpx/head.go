package httpx

import (
	"context"
	"net/http"
	"strconv"
)

// headKey marks a HEAD request that HeadAsGet serves as a GET.
type headKey struct{}

// HeadAsGet answers HEAD on every GET route (RFC 9110 9.3.2): the request
// runs through next as a GET, so it gets the same middleware, status and
// headers (ETag, caching, 304 for If-None-Match, compression), and the body
// is counted and dropped. One wrapper instead of a HEAD registration per
// route, so every new GET route has it; the router keeps seeing GET only,
// so its 405 answers and Allow headers stay those of the GET routes
// (MethodNotAllowed adds HEAD wherever GET is allowed).
func HeadAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		get := r.WithContext(context.WithValue(r.Context(), headKey{}, true))
		get.Method = http.MethodGet
		hw := &headWriter{ResponseWriter: w}
		next.ServeHTTP(hw, get)
		hw.commit(true)
	})
}

// Method is the method the client sent: HEAD for a request HeadAsGet
// serves as a GET (what the access log records).
func Method(r *http.Request) string {
	if r.Method == http.MethodGet && r.Context().Value(headKey{}) != nil {
		return http.MethodHead
	}
	return r.Method
}

// headWriter drops the body of a HEAD response. It holds the status back
// until the handler is done, so the Content-Length of the body the GET
// would have sent can be declared, as net/http does for a short GET.
type headWriter struct {
	http.ResponseWriter
	status    int
	size      int64
	committed bool
}

func (w *headWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code) // informational: passed on at once
		return
	}
	if w.status == 0 {
		w.status = code
	}
}

func (w *headWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.size += int64(len(p))
	return len(p), nil
}

// Flush sends the header now; like a flushed GET, it has no Content-Length.
func (w *headWriter) Flush() {
	w.commit(false)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *headWriter) commit(final bool) {
	if w.committed {
		return
	}
	w.committed = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	h := w.Header()
	if final && w.status != http.StatusNoContent && w.status != http.StatusNotModified &&
		h.Get("Content-Length") == "" && h.Get("Transfer-Encoding") == "" {
		h.Set("Content-Length", strconv.FormatInt(w.size, 10))
	}
	w.ResponseWriter.WriteHeader(w.status)
}
