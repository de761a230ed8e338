package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

func headRouter() http.Handler {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.NoMethod(MethodNotAllowed)
	r.GET("/thing", func(c *gin.Context) {
		WriteCacheable(c, http.StatusOK, `"v1"`, CachePrivate, []byte(`{"name":"thing"}`))
	})
	r.POST("/thing", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.POST("/only-post", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.GET("/stream", func(c *gin.Context) {
		c.Header("Content-Type", "text/plain")
		c.String(http.StatusOK, "part one")
		c.Writer.Flush()
		c.String(http.StatusOK, "part two")
	})
	r.GET("/method", func(c *gin.Context) { c.String(http.StatusOK, c.Request.Method+" "+Method(c.Request)) })
	return HeadAsGet(r)
}

func serve(h http.Handler, method, path string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestHeadAsGet(t *testing.T) {
	h := headRouter()
	get, head := serve(h, "GET", "/thing"), serve(h, "HEAD", "/thing")
	if head.Code != 200 || head.Body.Len() != 0 {
		t.Fatalf("HEAD %d with %d body bytes", head.Code, head.Body.Len())
	}
	for _, k := range []string{"Etag", "Cache-Control", "Content-Type"} {
		if head.Header().Get(k) != get.Header().Get(k) || get.Header().Get(k) == "" {
			t.Errorf("%s: HEAD %q GET %q", k, head.Header().Get(k), get.Header().Get(k))
		}
	}
	if cl := head.Header().Get("Content-Length"); cl != "16" {
		t.Errorf("HEAD Content-Length %q, want the GET body's 16", cl)
	}

	nm := serve(h, "HEAD", "/thing", "If-None-Match", `"v1"`)
	if nm.Code != http.StatusNotModified || nm.Header().Get("Content-Length") != "" || nm.Header().Get("Etag") != `"v1"` {
		t.Fatalf("HEAD If-None-Match: %d %v", nm.Code, nm.Header())
	}

	// A flushed response has no Content-Length, as its GET would not.
	st := serve(h, "HEAD", "/stream")
	if st.Code != 200 || st.Body.Len() != 0 || st.Header().Get("Content-Length") != "" || !st.Flushed {
		t.Fatalf("HEAD of a flushed response: %d %q %v flushed=%v", st.Code, st.Body, st.Header(), st.Flushed)
	}

	if m := serve(h, "GET", "/method").Body.String(); m != "GET GET" {
		t.Errorf("GET seen as %q", m)
	}
	if m := serve(h, "HEAD", "/method"); m.Body.Len() != 0 || m.Header().Get("Content-Length") != "8" {
		t.Errorf("HEAD /method: %q %v", m.Body, m.Header())
	}

	// Allow names HEAD wherever GET is allowed, and HEAD is no POST.
	if w := serve(h, "PUT", "/thing"); w.Code != 405 || w.Header().Get("Allow") != "GET, POST, HEAD" {
		t.Errorf("PUT: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if w := serve(h, "HEAD", "/only-post"); w.Code != 405 || w.Header().Get("Allow") != "POST" || w.Body.Len() != 0 {
		t.Errorf("HEAD on a POST route: %d Allow %q body %q", w.Code, w.Header().Get("Allow"), w.Body)
	}
}

func TestMethodSeesHead(t *testing.T) {
	var got string
	h := HeadAsGet(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Method + " " + Method(r) }))
	serve(h, "HEAD", "/")
	if got != "GET HEAD" {
		t.Fatalf("%q", got)
	}
}
