// Package usersimpl wires the users module. Only main.go imports it; other
// modules depend on the users contract package instead.
package usersimpl

import (
	"example.com/productapi/platform/audit"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"example.com/productapi/modules/users"
	"example.com/productapi/modules/users/internal/app"
	"example.com/productapi/modules/users/internal/httpapi"
	"example.com/productapi/modules/users/internal/store"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/query"
)

// Deps are what the module needs from the platform.
type Deps struct {
	DB      *gorm.DB
	Tokens  *auth.Tokens
	Cursors *query.Codec
	BaseURL string
	Log     *slog.Logger
	Audit   *audit.Log // admin actions are recorded here
	// RefreshTTL is the lifetime of a refresh token (auth.refresh_token_ttl).
	RefreshTTL time.Duration
	// MFA says whether the admin routes need a TOTP login (auth.require_mfa_for).
	MFA *auth.MFAPolicy
	// Privacy connects the right of access and erasure (events, the
	// orders export, session revocation); see app.Privacy.
	Privacy Privacy
	// AccountLimit, when set, counts every password check (login, and the
	// current_password of a profile change) and every registration against
	// the target account's (normalized email's) quota; false when refused
	// (it wrote the 429). Wired to ratelimit.Limiter.LimitAccount.
	AccountLimit func(c *gin.Context, account string) bool
}

// Privacy is app.Privacy: Events, OrdersOf.
type Privacy = app.Privacy

// Module is the wired users module.
type Module struct {
	*app.Service
	handlers *httpapi.Handlers
}

var _ users.Service = (*Module)(nil)

func New(d Deps) *Module {
	svc := app.New(store.New(d.DB), d.Tokens, d.Audit, d.Log.With("module", "users"))
	// TOTP secrets are sealed under a key derived from the signing keys,
	// so a key rotation that keeps the old key as previous still opens them.
	box, err := auth.NewSecretBox("users.totp-secret.v1", d.Tokens.Keys()...)
	if err != nil {
		panic(err) // Keys always holds the signing key
	}
	svc.SetPrivacy(d.Privacy)
	svc.ConfigureAuth(app.AuthOptions{RefreshTTL: d.RefreshTTL, MFABox: box})
	h := httpapi.NewHandlers(svc, d.Cursors, d.BaseURL)
	h.AdminMFA = d.MFA.For("admin.users")
	if d.AccountLimit != nil {
		h.AccountLimit = d.AccountLimit
	}
	return &Module{Service: svc, handlers: h}
}

// Routes mounts the module under /v1: the credential endpoints on public
// (a /v1 group that does not authenticate), the rest on v1.
func (m *Module) Routes(v1, public *gin.RouterGroup) {
	m.handlers.Routes(v1, public)
}
