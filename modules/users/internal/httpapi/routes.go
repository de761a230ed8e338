package httpapi

import (
	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/auth"
)

// Routes lists every route of the users module; it reads like the API table.
// The credential endpoints go on public, a /v1 group without
// authentication: they ignore Authorization (a stale token must not stop a
// login, and another account's token must not change how a guess is
// counted).
func (h *Handlers) Routes(v1, public *gin.RouterGroup) {
	credentials := public.Group("/auth")
	credentials.POST("/register", h.register)
	credentials.POST("/login", h.login)
	credentials.POST("/mfa", h.loginMFA)
	credentials.POST("/refresh", h.refresh)
	credentials.POST("/logout", h.logout)

	signedIn := v1.Group("/users", auth.Require())
	signedIn.GET("/me", h.getMe)
	signedIn.PATCH("/me", h.patchMe)
	signedIn.DELETE("/me", h.erase)
	signedIn.GET("/me/export", h.export)
	signedIn.GET("/:id", h.getUser)
	signedIn.POST("/me/mfa", h.enrolMFA)
	signedIn.POST("/me/mfa/confirm", h.confirmMFA)
	signedIn.DELETE("/me/mfa", h.disableMFA)

	admin := v1.Group("/users", auth.Require(auth.RoleAdmin), h.AdminMFA)
	admin.GET("", h.list)
	admin.PATCH("/:id", h.patchUser)
}
