package auth

import (
	"fmt"
	"strings"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/httpx"
)

var errMFARequired = apperr.New(apperr.KindForbidden, "auth.mfa_required",
	"this action requires a login with a second factor (TOTP); log in again with your authenticator code")

// RequireMFA rejects callers whose access token was not issued after a
// second factor: 401 without a caller, 403 auth.mfa_required without otp in
// the token's amr. Mount it after Require.
func RequireMFA() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := callerOr401(c)
		if !ok {
			return
		}
		if !p.MFA {
			httpx.Error(c, errMFARequired)
			return
		}
		c.Next()
	}
}

// MFAGroups are the route groups auth.require_mfa_for may name. "admin"
// names every admin group: users (list, role changes), flags, audit, events
// (dead letters, replay), products (catalogue writes) and orders (shipping,
// an admin's cancel, sales reports).
var MFAGroups = []string{"admin", "admin.users", "admin.flags", "admin.audit", "admin.events", "admin.products", "admin.orders"}

// MFAPolicy says which route groups need a second factor
// (auth.require_mfa_for); For gives the middleware of one group.
type MFAPolicy struct{ groups map[string]bool }

// NewMFAPolicy validates the configured group names.
func NewMFAPolicy(groups []string) (*MFAPolicy, error) {
	p := &MFAPolicy{groups: map[string]bool{}}
	for _, g := range groups {
		g = strings.TrimSpace(g)
		known := false
		for _, k := range MFAGroups {
			known = known || k == g
		}
		if !known {
			return nil, fmt.Errorf("unknown route group %q (known: %s)", g, strings.Join(MFAGroups, ", "))
		}
		p.groups[g] = true
	}
	return p, nil
}

// Required reports whether group needs a second factor.
func (p *MFAPolicy) Required(group string) bool {
	if p == nil {
		return false
	}
	top, _, _ := strings.Cut(group, ".")
	return p.groups[group] || p.groups[top]
}

// For returns RequireMFA for a group that needs it, else a pass-through.
// A nil policy needs nothing.
func (p *MFAPolicy) For(group string) gin.HandlerFunc {
	if p.Required(group) {
		return RequireMFA()
	}
	return NoSecondFactor
}

// ForAdmins is For on a route customers share with admins (an order's
// cancel): the second factor is asked of callers with the admin role only.
// Mount it after Require.
func (p *MFAPolicy) ForAdmins(group string) gin.HandlerFunc {
	if !p.Required(group) {
		return NoSecondFactor
	}
	mfa := RequireMFA()
	return func(c *gin.Context) {
		if caller, ok := Caller(c); ok && caller.Role != RoleAdmin {
			c.Next()
			return
		}
		mfa(c)
	}
}

// NoSecondFactor is the guard of a route group that needs no second factor.
func NoSecondFactor(c *gin.Context) { c.Next() }
