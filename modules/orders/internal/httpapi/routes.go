package httpapi

import (
	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/auth"
)

// Routes lists every route of the orders module.
func (h *Handlers) Routes(v1 *gin.RouterGroup) {
	o := v1.Group("/orders", auth.Require())
	o.POST("", h.place)
	o.GET("", h.list)
	o.GET("/:id", h.get)
	o.POST("/:id/cancel", h.AdminActingMFA, h.cancel)
	o.POST("/:id/ship", auth.Require(auth.RoleAdmin), h.AdminMFA, h.ship)

	reports := v1.Group("/admin/reports", auth.Require(auth.RoleAdmin), h.AdminMFA)
	reports.GET("/product-sales", h.salesList)
	reports.POST("/product-sales/rebuild", h.salesRebuild)
}
