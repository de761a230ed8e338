package httpapi

import (
	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/auth"
)

// Routes lists every route of the products module.
func (h *Handlers) Routes(v1 *gin.RouterGroup) {
	public := v1.Group("/products")
	public.GET("", h.list)
	public.GET("/:id", h.get)

	admin := v1.Group("/products", auth.Require(auth.RoleAdmin), h.AdminMFA)
	admin.POST("", h.create)
	admin.PATCH("/:id", h.patch)
	admin.DELETE("/:id", h.delete)
}
