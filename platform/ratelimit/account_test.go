package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// AccountKey names one account however its email is typed, and does not
// carry the address itself.
func TestAccountKey(t *testing.T) {
	k := AccountKey("Ada@Example.com")
	if k != AccountKey("  ada@example.com ") || k == AccountKey("bob@example.com") {
		t.Fatalf("AccountKey does not normalize or does not separate accounts: %q", k)
	}
	if !strings.HasPrefix(k, "a:") || strings.Contains(k, "example") || len(k) > maxKeyLen || sanitize(k[2:]) != k[2:] {
		t.Fatalf("AccountKey %q", k)
	}
}

// LimitAccount counts an account in a group's policy outside the middleware: past the
// limit it answers 429 with Retry-After and that group's RateLimit fields;
// with limiting switched off it admits everything.
func TestLimitAccount(t *testing.T) {
	p := Policy{Name: GroupAuth, Limit: 2, Window: time.Minute}
	on := true
	l := New(Options{Policies: map[string]Policy{GroupAuth: p}, Enabled: func(context.Context) bool { return on }})
	admit := func(group, key string) (bool, *httptest.ResponseRecorder) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/v1/console/login", nil)
		return l.LimitAccount(c, group, key), w
	}
	for i := 0; i < 2; i++ {
		if ok, _ := admit(GroupAuth, "ada@example.com"); !ok {
			t.Fatalf("attempt %d refused below the limit", i+1)
		}
	}
	ok, w := admit(GroupAuth, "ada@example.com")
	if ok || w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" ||
		w.Header().Get("RateLimit") == "" || !strings.HasPrefix(w.Header().Get("RateLimit-Policy"), `"auth";q=2`) {
		t.Fatalf("over the limit: admitted %v, %d, headers %v", ok, w.Code, w.Header())
	}
	if ok, _ := admit(GroupAuth, "bob@example.com"); !ok {
		t.Fatal("another account shares the first one's budget")
	}
	if ok, _ := admit(GroupCatalogue, "x"); !ok {
		t.Fatal("a group without a policy is limited")
	}
	on = false
	if ok, _ := admit(GroupAuth, "ada@example.com"); !ok {
		t.Fatal("limited while the runtime flag is off")
	}
}
