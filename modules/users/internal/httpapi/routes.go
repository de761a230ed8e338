package httpapi

import (
	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/auth"
)

// Routes lists every route of the users module; it reads like the API table.
// authLimit wraps the credential endpoints (stricter rate limits later).
func (h *Handlers) Routes(v1 *gin.RouterGroup, authLimit ...gin.HandlerFunc) {
	credentials := v1.Group("/auth", authLimit...)
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
