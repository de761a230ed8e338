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

	signedIn := v1.Group("/users", auth.Require())
	signedIn.GET("/me", h.getMe)
	signedIn.PATCH("/me", h.patchMe)
	signedIn.GET("/:id", h.getUser)

	admin := v1.Group("/users", auth.Require(auth.RoleAdmin))
	admin.GET("", h.list)
	admin.PATCH("/:id", h.patchUser)
}
