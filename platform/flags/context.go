package flags

import (
	"context"

	"github.com/open-feature/go-sdk/openfeature"

	"example.com/productapi/platform/auth"
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

// Attributes are what a request tells the evaluation about its caller
// (flagshttp.Middleware stores them).
type Attributes struct {
	UserID, Role, IP, Path, UserAgent string
}

type attrsKey struct{}

// WithRequestAttributes stores the evaluation attributes of a request in
// ctx for Bool and friends.
func WithRequestAttributes(ctx context.Context, a Attributes) context.Context {
	return context.WithValue(ctx, attrsKey{}, a)
}

// WithAttributes stores evaluation attributes in ctx outside HTTP (jobs,
// tests).
func WithAttributes(ctx context.Context, userID, role, ip string) context.Context {
	return WithRequestAttributes(ctx, Attributes{UserID: userID, Role: role, IP: ip})
}

// EvalContextFrom builds the OpenFeature evaluation context of ctx. The
// caller is read again here (auth.FromContext), so attributes stored
// before authentication still name the authenticated caller.
func EvalContextFrom(ctx context.Context) openfeature.EvaluationContext {
	a, _ := ctx.Value(attrsKey{}).(Attributes)
	if p, ok := auth.FromContext(ctx); ok {
		a.UserID, a.Role = p.UserID, p.Role
	}
	attrs := make(map[string]any, 6)
	set := func(k, v string) {
		if v != "" {
			attrs[k] = v
		}
	}
	set(AttrUserID, a.UserID)
	set(AttrRole, a.Role)
	set(AttrIP, a.IP)
	set(AttrPath, a.Path)
	set(AttrUserAgent, a.UserAgent)
	attrs[AttrAuthenticated] = a.UserID != ""
	tk := a.UserID
	if tk == "" && a.IP != "" {
		tk = "anon:" + a.IP
	}
	return openfeature.NewEvaluationContext(tk, attrs)
}
