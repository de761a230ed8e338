package httpapi

import (
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/ratelimit"
	"example.com/productapi/platform/routemeta"
)

// Routes lists every route of the products module with its limits: the
// public catalogue reads in their own rate-limit group, the list (and
// search, its q) shed first under overload.
func (h *Handlers) Routes(v1 *routemeta.Group) {
	catalogue := routemeta.Meta{Group: ratelimit.GroupCatalogue}
	public := v1.Group("/products")
	public.GET("", catalogue.Sheddable(), h.list)
	public.GET("/:id", catalogue, h.get)

	admin := v1.Group("/products", auth.Require(auth.RoleAdmin), h.AdminMFA)
	admin.POST("", routemeta.Default, h.create)
	admin.PATCH("/:id", routemeta.Default, h.patch)
	admin.DELETE("/:id", routemeta.Default, h.delete)
}
