package app

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/audit/audithttp"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/events/eventshttp"
	"example.com/productapi/platform/flags/flagshttp"
	"example.com/productapi/platform/flags/flagstore"
	"example.com/productapi/platform/health"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/ratelimit"
	"example.com/productapi/platform/routemeta"
	"example.com/productapi/web"
)

// routes is the whole HTTP surface in one place, in the order of the API
// table: the middleware every request passes, then operations, the
// console, OFREP, the public /v1 API of each module and its admin part.
// Every route is registered with its limits (routemeta.Meta: rate-limit
// group, shedding class) into a.routeMeta, which both limiters read.
func (a *App) routes() *gin.Engine {
	r := gin.New()
	a.routeMeta = routemeta.NewTable()
	rateLimit := a.rate.Middleware(a.routeMeta.RateGroup)
	r.HandleMethodNotAllowed = true
	_ = r.SetTrustedProxies(a.cfg.HTTP.TrustedProxies) // validated at config load; nil trusts none
	r.Use(a.tracing.Middleware())                      // first: the access log carries the trace ID
	r.Use(httpx.Base(a.log, a.cfg.HTTP.MaxBodyBytes)...)
	if cors := httpx.CORS(httpx.CORSOptions{AllowedOrigins: a.cfg.HTTP.CORS.AllowedOrigins,
		AllowCredentials: a.cfg.HTTP.CORS.AllowCredentials, MaxAge: a.cfg.HTTP.CORS.MaxAge}); cors != nil {
		r.Use(cors) // before auth and limits: preflights carry no token
	}
	r.Use(a.metrics.Middleware())
	// After CORS (a refused request still carries its headers) and the
	// metrics (it is counted).
	r.Use(httpx.StrictURL)
	r.Use(a.limiter.Middleware(a.routeMeta.Class))
	r.Use(flagshttp.Middleware(), audithttp.Middleware())
	r.NoRoute(httpx.NotFound)
	r.NoMethod(httpx.MethodNotAllowed)

	// Operations: probes, metrics, the API's description and reference page.
	// The probes and metrics are never limited: an orchestrator must be
	// able to ask an overloaded instance how it is.
	root := a.routeMeta.On(&r.RouterGroup)
	ops := routemeta.Meta{Unlimited: true}
	root.GET("/livez", ops, health.Live)
	root.GET("/readyz", ops, a.health.Ready)
	root.GET("/metrics", ops, a.metrics.Handler())
	root.GET("/openapi.yaml", routemeta.Default, func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", web.OpenAPIYAML()) })
	root.GET("/openapi.json", routemeta.Default, func(c *gin.Context) { c.Data(http.StatusOK, "application/json", web.OpenAPIJSON()) })
	root.GET("/docs", routemeta.Default, serveDocs)
	root.GET("/docs/:file", routemeta.Default, serveDocs) // the page's script and style

	// The operator console: its static files, and its credential endpoints
	// (the login, MFA, refresh and logout use cases of POST /v1/auth/*) in
	// the rate-limit group "console" (per client address) instead of
	// "auth", so that a brute force or a busy NAT sharing the operator's
	// address cannot lock the operator out of the console, nor end a
	// console session by starving its refreshes. A console login still
	// counts against its target account in the auth group (the budget every
	// login of that account shares), so the extra per-address budget buys
	// an attacker no extra guesses against any account. They sit outside
	// the bearer authentication of /v1: they ignore Authorization, like the
	// auth endpoints, and a stale token never turns a sign-in into a 401.
	root.GET("/admin/*path", routemeta.Default, serveConsole)
	console := root.Group("/v1/console", append([]gin.HandlerFunc{rateLimit}, a.readRouting()...)...)
	signIn := routemeta.Meta{Group: ratelimit.GroupConsole}
	console.POST("/login", signIn, a.consoleLogin)
	console.POST("/mfa", signIn, a.consoleMFA)
	console.POST("/refresh", signIn, a.consoleRefresh)
	console.POST("/logout", signIn, a.consoleLogout)

	flagshttp.OFREPRoutes(root, a.flags) // public, at the root: the protocol fixes /ofrep/v1

	// The public API. Rate limits key by the caller, so they come after
	// authentication (and after flagshttp.Middleware, which the runtime flag
	// needs).
	reads := a.readRouting()
	v1 := root.Group("/v1", append([]gin.HandlerFunc{a.tokens.Authenticate(a.external...), rateLimit}, reads...)...)
	// The credential endpoints never authenticate: a login with a stale
	// token works, and a guess counts per address (and per target account,
	// in the handlers), never in the bucket of a token sent along.
	public := root.Group("/v1", append([]gin.HandlerFunc{rateLimit}, reads...)...)
	a.users.Routes(v1, public)
	a.products.Routes(v1)
	a.orders.Routes(v1)

	// Admin, each area behind its own MFA requirement (auth.require_mfa_for).
	admin := v1.Group("", auth.Require(auth.RoleAdmin))
	base := a.cfg.HTTP.PublicBaseURL
	eventshttp.Routes(admin.Group("", a.mfa.For("admin.events")), a.events, a.cursors, base)
	flagshttp.AdminRoutes(admin.Group("", a.mfa.For("admin.flags")), flagstore.NewAdmin(a.db.Gorm, a.audit, a.flags), a.cursors, base)
	audithttp.Routes(admin.Group("", a.mfa.For("admin.audit")), a.audit, a.cursors, base)
	// The console's figures: critical, unlike the other admin reads, so
	// that its health view keeps working under overload.
	admin.GET("/admin/stats", routemeta.Default, a.adminStats)
	return r
}
