package httpapi

import (
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/ratelimit"
	"example.com/productapi/platform/routemeta"
)

// Routes lists every route of the users module; it reads like the API table.
// The credential endpoints go on public, a /v1 group without
// authentication: they ignore Authorization (a stale token must not stop a
// login, and another account's token must not change how a guess is
// counted). They are in the strict rate-limit group "auth", where
// passwords are guessed; the user list is shed first under overload.
func (h *Handlers) Routes(v1, public *routemeta.Group) {
	credential := routemeta.Meta{Group: ratelimit.GroupAuth}
	credentials := public.Group("/auth")
	credentials.POST("/register", credential, h.register)
	credentials.POST("/login", credential, h.login)
	credentials.POST("/mfa", credential, h.loginMFA)
	credentials.POST("/refresh", credential, h.refresh)
	credentials.POST("/logout", credential, h.logout)

	signedIn := v1.Group("/users", auth.Require())
	signedIn.GET("/me", routemeta.Default, h.getMe)
	signedIn.PATCH("/me", routemeta.Default, h.patchMe)
	signedIn.DELETE("/me", routemeta.Default, h.erase)
	signedIn.GET("/me/export", routemeta.Default, h.export)
	signedIn.GET("/:id", routemeta.Default, h.getUser)
	signedIn.POST("/me/mfa", routemeta.Default, h.enrolMFA)
	signedIn.POST("/me/mfa/confirm", routemeta.Default, h.confirmMFA)
	signedIn.DELETE("/me/mfa", routemeta.Default, h.disableMFA)

	admin := v1.Group("/users", auth.Require(auth.RoleAdmin), h.AdminMFA)
	admin.GET("", routemeta.Default.Sheddable(), h.list)
	admin.PATCH("/:id", routemeta.Default, h.patchUser)
}
