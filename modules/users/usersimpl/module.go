// Package usersimpl wires the users module. Only the composition root
// imports it; other modules depend on the users contract package instead.
package usersimpl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"example.com/productapi/modules/users"
	"example.com/productapi/modules/users/internal/app"
	"example.com/productapi/modules/users/internal/httpapi"
	"example.com/productapi/modules/users/internal/store"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/routemeta"
)

// Deps are what the module needs from the platform. DB, Tokens, Cursors,
// Audit and Privacy.Events are required.
type Deps struct {
	DB      *gorm.DB
	Tokens  *auth.Tokens
	Cursors *query.Codec
	BaseURL string
	Log     *slog.Logger // nil: slog.Default()
	Audit   *audit.Log   // admin actions are recorded here
	// RefreshTTL is the lifetime of a refresh token (auth.refresh_token_ttl;
	// zero: 720h).
	RefreshTTL time.Duration
	// MFA says whether the admin routes need a TOTP login (auth.require_mfa_for).
	MFA *auth.MFAPolicy
	// Privacy connects the right of access and erasure (the erasure event,
	// the orders export); see app.Privacy.
	Privacy Privacy
	// AccountLimit, when set, counts every password check (login, and the
	// current_password of a profile change) and every registration against
	// the target account's (normalized email's) quota; false when refused
	// (it wrote the 429). Wired to ratelimit.Limiter.LimitAccount.
	AccountLimit func(c *gin.Context, account string) bool
}

// Privacy is app.Privacy: Events, OrdersOf (nil: the export lists no orders).
type Privacy = app.Privacy

// Module is the wired users module. It hands out its contract, never the
// use cases behind it.
type Module struct {
	svc      *app.Service
	handlers *httpapi.Handlers
}

// New checks d and builds the module.
func New(d Deps) (*Module, error) {
	var missing []error
	for _, dep := range []struct {
		name   string
		absent bool
	}{{"DB", d.DB == nil}, {"Tokens", d.Tokens == nil}, {"Cursors", d.Cursors == nil}, {"Audit", d.Audit == nil},
		{"Privacy.Events", d.Privacy.Events == nil}} {
		if dep.absent {
			missing = append(missing, fmt.Errorf("usersimpl: Deps.%s is required", dep.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	// TOTP secrets are sealed under a key derived from the signing keys,
	// so a key rotation that keeps the old key as previous still opens them.
	box, err := auth.NewSecretBox("users.totp-secret.v1", d.Tokens.Keys()...)
	if err != nil {
		return nil, fmt.Errorf("usersimpl: TOTP secret box: %w", err)
	}
	svc := app.New(store.New(d.DB), d.Tokens, d.Audit, log.With("module", "users"), app.Options{
		Privacy: d.Privacy, Auth: app.AuthOptions{RefreshTTL: d.RefreshTTL, MFABox: box}})
	h := httpapi.NewHandlers(svc, d.Cursors, d.BaseURL)
	h.AdminMFA = d.MFA.For("admin.users")
	if d.AccountLimit != nil {
		h.AccountLimit = d.AccountLimit
	}
	return &Module{svc: svc, handlers: h}, nil
}

// Service is the module's contract, for peers.
func (m *Module) Service() users.Service { return m.svc }

// Accounts is what the composition root needs beyond the contract (the
// console's sign-in, OIDC provisioning, the first admin); see users.Accounts.
func (m *Module) Accounts() users.Accounts { return m.svc }

// Routes mounts the module under /v1: the credential endpoints on public
// (a /v1 group that does not authenticate), the rest on v1.
func (m *Module) Routes(v1, public *routemeta.Group) {
	m.handlers.Routes(v1, public)
}

// Start and Close give users the lifecycle every module has; users runs no
// background work.
func (m *Module) Start(context.Context) {}

// Close: see Start.
func (m *Module) Close() {}
