package flags

import (
	"context"

	"github.com/gin-gonic/gin"
	"github.com/open-feature/go-sdk/openfeature"

	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/httpx"
)

// Evaluation context attribute names (besides targetingKey, which is the
// user ID, or "anon:<ip>" for anonymous callers so rollouts stay sticky
// per client).
const (
	AttrUserID        = "user_id"
	AttrRole          = "role"
	AttrIP            = "ip"
	AttrPath          = "path"
	AttrUserAgent     = "user_agent"
	AttrAuthenticated = "authenticated"
)

type requestAttrs struct {
	userID, role, ip, path, userAgent string
}

type attrsKey struct{}

// Middleware stores the request's evaluation attributes (caller, role,
// client IP, route, user agent) in the request context for Bool and
// friends. Mount it on the engine; the caller is also read again at
// evaluation time (auth.FromContext), so it works before authentication.
func Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		// httpx.ClientIP: resolved once per request by httpx.Base.
		a := requestAttrs{ip: httpx.ClientIP(c), path: c.FullPath(), userAgent: c.Request.UserAgent()}
		if a.path == "" {
			a.path = c.Request.URL.Path
		}
		if p, ok := auth.Caller(c); ok {
			a.userID, a.role = p.UserID, p.Role
		}
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), attrsKey{}, a))
		c.Next()
	}
}

// WithAttributes stores evaluation attributes in ctx outside HTTP (jobs,
// tests).
func WithAttributes(ctx context.Context, userID, role, ip string) context.Context {
	return context.WithValue(ctx, attrsKey{}, requestAttrs{userID: userID, role: role, ip: ip})
}

// EvalContextFrom builds the OpenFeature evaluation context of ctx.
func EvalContextFrom(ctx context.Context) openfeature.EvaluationContext {
	a, _ := ctx.Value(attrsKey{}).(requestAttrs)
	if p, ok := auth.FromContext(ctx); ok {
		a.userID, a.role = p.UserID, p.Role
	}
	attrs := make(map[string]any, 6)
	set := func(k, v string) {
		if v != "" {
			attrs[k] = v
		}
	}
	set(AttrUserID, a.userID)
	set(AttrRole, a.role)
	set(AttrIP, a.ip)
	set(AttrPath, a.path)
	set(AttrUserAgent, a.userAgent)
	attrs[AttrAuthenticated] = a.userID != ""
	tk := a.userID
	if tk == "" && a.ip != "" {
		tk = "anon:" + a.ip
	}
	return openfeature.NewEvaluationContext(tk, attrs)
}
