package httpapi

import (
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/routemeta"
)

// Routes lists every route of the orders module with its limits: lists
// and reports are shed first under overload, checkout and the rest last.
func (h *Handlers) Routes(v1 *routemeta.Group) {
	o := v1.Group("/orders", auth.Require())
	o.POST("", routemeta.Default, h.place)
	o.GET("", routemeta.Default.Sheddable(), h.list)
	o.GET("/:id", routemeta.Default, h.get)
	o.POST("/:id/cancel", routemeta.Default, h.AdminActingMFA, h.cancel)
	o.POST("/:id/ship", routemeta.Default, auth.Require(auth.RoleAdmin), h.AdminMFA, h.ship)

	reports := v1.Group("/admin/reports", auth.Require(auth.RoleAdmin), h.AdminMFA)
	reports.GET("/product-sales", routemeta.Default.Sheddable(), h.salesList)
	reports.POST("/product-sales/rebuild", routemeta.Default, h.salesRebuild)
}
