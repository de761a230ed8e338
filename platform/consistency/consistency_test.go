package consistency

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/redistest"
)

// newPair is two instances sharing the real Redis of the tests
// (platform/testkit/redistest: fails in CI when it is unreachable).
func newPair(t *testing.T, window time.Duration) (*Tracker, *Tracker) {
	t.Helper()
	rdb := redistest.Client(t, nil)
	o := Options{Window: window, Redis: rdb, Namespace: fmt.Sprintf("ryw-test-%d", time.Now().UnixNano())}
	return New(o), New(o)
}

func TestMarksAreSharedAndExpire(t *testing.T) {
	// 2 s: the three Redis round trips below must fit in the window even on
	// a loaded machine; the expiry wait allows 10 s.
	a, b := newPair(t, 2*time.Second)
	ctx := context.Background()
	if a.WroteRecently(ctx, "u1") || b.WroteRecently(ctx, "u1") {
		t.Fatal("nobody wrote yet")
	}
	a.MarkWrote(ctx, "u1")
	if !a.WroteRecently(ctx, "u1") {
		t.Fatal("the writing instance forgot its own mark")
	}
	if !b.WroteRecently(ctx, "u1") {
		t.Fatal("another instance does not see the mark (Redis)")
	}
	if b.WroteRecently(ctx, "u2") {
		t.Fatal("a mark leaked to another principal")
	}
	testkit.Eventually(t, 10*time.Second, "the mark to end with its window", func() bool {
		return !b.WroteRecently(ctx, "u1") && !a.WroteRecently(ctx, "u1")
	})
}

func TestRedisUnreachableMeansPrimary(t *testing.T) {
	gone := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = gone.Close() })
	if !New(Options{Window: time.Second, Redis: gone, Namespace: "t"}).WroteRecently(context.Background(), "u1") {
		t.Fatal("with Redis unreachable an unknown caller must read the primary")
	}
	down := New(Options{Window: time.Second, Redis: gone, Namespace: "t", RedisHealthy: func() bool { return false }})
	if !down.WroteRecently(context.Background(), "u1") {
		t.Fatal("with the Redis breaker open an unknown caller must read the primary")
	}
	local := New(Options{Window: time.Second, Namespace: "t"})
	if local.WroteRecently(context.Background(), "u1") {
		t.Fatal("without Redis only local marks count")
	}
}

func TestMiddlewareRoutesByMethodAndCaller(t *testing.T) {
	gin.SetMode(gin.TestMode)
	tokens := auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), "t", time.Hour)
	tr := New(Options{Window: time.Minute, Namespace: "t"})
	r := gin.New()
	var replica bool
	r.Use(tokens.Authenticate(), tr.Middleware())
	r.Any("/x", func(c *gin.Context) { replica = db.ReplicaAllowed(c.Request.Context()) })
	do := func(method, token string) bool {
		req := httptest.NewRequest(method, "/x", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		replica = false
		r.ServeHTTP(httptest.NewRecorder(), req)
		return replica
	}
	if !do(http.MethodGet, "") {
		t.Fatal("an anonymous GET may read a replica")
	}
	if do(http.MethodPost, "") {
		t.Fatal("a POST reads the primary")
	}
	fresh, _ := tokens.Issue("u1", auth.RoleCustomer)
	if do(http.MethodGet, fresh) {
		t.Fatal("a session that just began (maybe just registered) reads the primary")
	}
	// A real token of u2, re-signed as if issued an hour ago (same claims
	// and key ID).
	issued, _ := tokens.Issue("u2", auth.RoleCustomer)
	var claims jwt.MapClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(issued, &claims)
	if err != nil {
		t.Fatal(err)
	}
	claims["iat"] = time.Now().Add(-time.Hour).Unix()
	aged := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	aged.Header["kid"] = parsed.Header["kid"]
	old, err := aged.SignedString([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if !do(http.MethodGet, old) {
		t.Fatal("an old session that did not write may read a replica")
	}
	do(http.MethodPatch, old)
	if do(http.MethodGet, old) {
		t.Fatal("a caller that just wrote reads the primary")
	}
	if !do(http.MethodGet, "") {
		t.Fatal("another (anonymous) caller is not affected by the mark")
	}
}
