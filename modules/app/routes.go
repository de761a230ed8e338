package app

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/audit/audithttp"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/events/eventshttp"
	"example.com/productapi/platform/flags/flagshttp"
	"example.com/productapi/platform/flags/flagstore"
	"example.com/productapi/platform/health"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/resilience"
	"example.com/productapi/web"
)

// routes is the whole HTTP surface in one place, in the order of the API
// table: the middleware every request passes, then operations, the
// console, OFREP, the public /v1 API of each module and its admin part.
func (a *App) routes() *gin.Engine {
	r := gin.New()
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
	r.Use(a.limiter.Middleware(requestClass))
	r.Use(flagshttp.Middleware(), audithttp.Middleware())
	r.NoRoute(httpx.NotFound)
	r.NoMethod(httpx.MethodNotAllowed)

	// Operations: probes, metrics, the API's description and reference page.
	r.GET("/livez", health.Live)
	r.GET("/readyz", a.health.Ready)
	r.GET("/metrics", a.metrics.Handler())
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", web.OpenAPIYAML()) })
	r.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", web.OpenAPIJSON()) })
	r.GET("/docs", serveDocs)
	r.GET("/docs/:file", serveDocs) // the page's script and style

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
	r.GET("/admin/*path", serveConsole)
	console := r.Group("/v1/console", append([]gin.HandlerFunc{a.rate.Middleware()}, a.readRouting()...)...)
	console.POST("/login", a.consoleLogin)
	console.POST("/mfa", a.consoleMFA)
	console.POST("/refresh", a.consoleRefresh)
	console.POST("/logout", a.consoleLogout)

	flagshttp.OFREPRoutes(r, a.flags) // public, at the root: the protocol fixes /ofrep/v1

	// The public API. Rate limits key by the caller, so they come after
	// authentication (and after flagshttp.Middleware, which the runtime flag
	// needs).
	reads := a.readRouting()
	v1 := r.Group("/v1", append([]gin.HandlerFunc{a.tokens.Authenticate(a.external...), a.rate.Middleware()}, reads...)...)
	// The credential endpoints never authenticate: a login with a stale
	// token works, and a guess counts per address (and per target account,
	// in the handlers), never in the bucket of a token sent along.
	public := r.Group("/v1", append([]gin.HandlerFunc{a.rate.Middleware()}, reads...)...)
	a.users.Routes(v1, public)
	a.products.Routes(v1)
	a.orders.Routes(v1)

	// Admin, each area behind its own MFA requirement (auth.require_mfa_for).
	admin := v1.Group("", auth.Require(auth.RoleAdmin))
	base := a.cfg.HTTP.PublicBaseURL
	eventshttp.Routes(admin.Group("", a.mfa.For("admin.events")), a.events, a.cursors, base)
	flagshttp.AdminRoutes(admin.Group("", a.mfa.For("admin.flags")), flagstore.NewAdmin(a.db.Gorm, a.audit, a.flags), a.cursors, base)
	audithttp.Routes(admin.Group("", a.mfa.For("admin.audit")), a.audit, a.cursors, base)
	admin.GET("/admin/stats", a.adminStats) // the console's figures
	return r
}

// listRoutes are the collection reads: the heavy, cacheable-but-varied work.
var listRoutes = map[string]bool{"/v1/products": true, "/v1/orders": true, "/v1/users": true}

// requestClass is the shedding order under overload: operational routes are
// never limited, search and lists go first, single reads, checkout and
// every write last.
func requestClass(c *gin.Context) (resilience.Class, bool) {
	route := c.FullPath()
	switch route {
	case "/livez", "/readyz", "/metrics":
		return resilience.Critical, false
	case "/v1/admin/stats": // the console's health view must keep working under overload
		return resilience.Critical, true
	}
	if c.Request.Method == http.MethodGet && (c.Query("q") != "" || listRoutes[route] || strings.HasPrefix(route, "/v1/admin/")) {
		return resilience.Sheddable, true
	}
	return resilience.Critical, true
}
