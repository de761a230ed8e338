package auth

import (
	"context"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/httpx"
)

type ctxKey struct{}

const ginKey = "auth.principal"

var (
	errUnauthorized = apperr.New(apperr.KindUnauthorized, "auth.unauthorized", "a valid bearer token is required")
	errForbidden    = apperr.New(apperr.KindForbidden, "auth.forbidden", "your role does not allow this action")
)

// WithPrincipal stores the caller in a context (for code below the handlers).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the caller stored by the middleware, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Caller returns the authenticated principal of a request, if any.
func Caller(c *gin.Context) (Principal, bool) {
	v, ok := c.Get(ginKey)
	if !ok {
		return Principal{}, false
	}
	return v.(Principal), true
}

// Authenticate reads an optional Bearer token. No header: anonymous. A header
// that is present but wrong is always a 401, even on public routes, so a
// client learns its token is bad. Tokens that are not ours are offered to
// the external verifiers (an OIDC issuer), if any.
func (t *Tokens) Authenticate(external ...External) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		if h == "" {
			c.Next()
			return
		}
		token, ok := ParseBearer(h)
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="api"`)
			httpx.Error(c, errUnauthorized)
			return
		}
		p, err := t.verifyAny(c.Request.Context(), token, external)
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			httpx.Error(c, errUnauthorized)
			return
		}
		c.Set(ginKey, p)
		c.Request = c.Request.WithContext(WithPrincipal(c.Request.Context(), p))
		c.Next()
	}
}

// callerOr401 returns the caller, or answers 401 with a Bearer challenge.
func callerOr401(c *gin.Context) (Principal, bool) {
	p, ok := Caller(c)
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="api"`)
		httpx.Error(c, errUnauthorized)
	}
	return p, ok
}

// Require rejects anonymous callers (401) and, when roles are given, callers
// without one of them (403).
func Require(roles ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := callerOr401(c)
		if !ok {
			return
		}
		if len(roles) > 0 {
			allowed := false
			for _, r := range roles {
				allowed = allowed || p.Role == r
			}
			if !allowed {
				httpx.Error(c, errForbidden)
				return
			}
		}
		c.Next()
	}
}
