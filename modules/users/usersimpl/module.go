// Package usersimpl wires the users module. Only main.go imports it; other
// modules depend on the users contract package instead.
package usersimpl

import (
	"example.com/productapi/platform/audit"
	"log/slog"

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
}

// Module is the wired users module.
type Module struct {
	*app.Service
	handlers *httpapi.Handlers
}

var _ users.Service = (*Module)(nil)

func New(d Deps) *Module {
	svc := app.New(store.New(d.DB), d.Tokens, d.Audit, d.Log.With("module", "users"))
	return &Module{Service: svc, handlers: httpapi.NewHandlers(svc, d.Cursors, d.BaseURL)}
}

// Routes mounts the module under /v1.
func (m *Module) Routes(v1 *gin.RouterGroup, authLimit ...gin.HandlerFunc) {
	m.handlers.Routes(v1, authLimit...)
}
