package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// FuzzVerify: no input panics, and nothing but a token this key signed is
// ever accepted.
func FuzzVerify(f *testing.F) {
	tok := NewTokens(testKey, "productapi", time.Minute)
	good, _ := tok.Issue("user-1", RoleCustomer)
	ch, _ := tok.IssueMFAChallenge("user-1")
	for _, s := range []string{good, ch, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", good + "x", good[:len(good)-3]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := tok.Verify(s)
		if err == nil && s != good {
			// Base64url has malleable trailing bits; a different string
			// may still decode to the same bytes. It must still name our user.
			if p.UserID != "user-1" || p.Role != RoleCustomer {
				t.Fatalf("accepted %q as %+v", s, p)
			}
		}
		_, _ = tok.VerifyMFAChallenge(s)
	})
}

// FuzzAuthorizationHeader drives the middleware: any header either passes
// as a valid principal, or is anonymous (absent), or is a 401. Never a panic
// or another status.
func FuzzAuthorizationHeader(f *testing.F) {
	gin.SetMode(gin.TestMode)
	tok := NewTokens(testKey, "productapi", time.Minute)
	good, _ := tok.Issue("user-1", RoleCustomer)
	for _, s := range []string{"Bearer " + good, "bearer " + good, "Bearer", "Basic dXNlcjpwYXNz", "Bearer  " + good + " x", "\x00", ""} {
		f.Add(s)
	}
	r := gin.New()
	r.Use(tok.Authenticate())
	r.GET("/", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	f.Fuzz(func(t *testing.T, h string) {
		tk, ok := ParseBearer(h)
		if ok && (tk == "" || tk[0] == ' ') {
			t.Fatalf("ParseBearer(%q) = %q", h, tk)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header["Authorization"] = []string{h}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent && w.Code != http.StatusUnauthorized {
			t.Fatalf("header %q: status %d", h, w.Code)
		}
		if h != "" && w.Code == http.StatusNoContent && !ok {
			t.Fatalf("header %q accepted without a bearer token", h)
		}
	})
}
