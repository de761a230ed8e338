package app

// The operator console: static files under /admin/ (web/admin, embedded),
// its own credential endpoints under /v1/console/ and the one JSON
// endpoint only it reads, GET /v1/admin/stats. The API reference page
// (/docs, web/docs) is served the same way as the console's files.

import (
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"example.com/productapi/modules/orders/ordersimpl"
	"example.com/productapi/modules/products/productsimpl"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/flags"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/observability"
	"example.com/productapi/platform/ratelimit"
	"example.com/productapi/web"
)

// statsWindow is about how far back the console's traffic figures reach;
// statsEvery is how often a snapshot is taken for them.
const (
	statsWindow = 30 * time.Second
	statsEvery  = 5 * time.Second
)

// serveConsole answers GET /admin/*path with the console's files.
func serveConsole(c *gin.Context) {
	asset, ok := web.ConsoleFile(c.Param("path"))
	serveAsset(c, asset, ok, web.ConsoleCSP)
}

// serveDocs answers GET /docs (the page) and GET /docs/:file (its script
// and style) under the page's strict CSP.
func serveDocs(c *gin.Context) {
	asset, ok := web.DocsFile(c.Param("file"))
	serveAsset(c, asset, ok, web.DocsCSP)
}

// serveAsset sends one embedded file. Every file is revalidated (no-cache
// + a content ETag): the files keep their names across releases, so they
// must not be cached blindly.
func serveAsset(c *gin.Context, asset web.Asset, ok bool, csp string) {
	if !ok {
		httpx.NotFound(c)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", asset.ETag)
	if httpx.NoneMatch(c, asset.ETag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, asset.ContentType, asset.Body)
}

// The request bodies, as POST /v1/auth/login, /mfa, /refresh and /logout
// take them.
type (
	consoleLoginRequest struct {
		Email    string `json:"email" validate:"required,max=254"`
		Password string `json:"password" validate:"required,max=128"`
	}
	consoleMFARequest struct {
		MFAToken string `json:"mfa_token" validate:"required,max=2000"`
		Code     string `json:"code" validate:"required,max=64"`
	}
	consoleRefreshRequest struct {
		RefreshToken string `json:"refresh_token" validate:"required,max=200"`
	}
)

func (a *App) consoleLogin(c *gin.Context) {
	var req consoleLoginRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	if !a.rate.LimitAccount(c, ratelimit.GroupAuth, req.Email) {
		return
	}
	tok, err := a.users.Accounts().Login(c.Request.Context(), req.Email, req.Password)
	consoleTokens(c, tok, err)
}

func (a *App) consoleMFA(c *gin.Context) {
	var req consoleMFARequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	tok, err := a.users.Accounts().LoginMFA(c.Request.Context(), req.MFAToken, req.Code)
	consoleTokens(c, tok, err)
}

func (a *App) consoleRefresh(c *gin.Context) {
	var req consoleRefreshRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	tok, err := a.users.Accounts().Refresh(c.Request.Context(), req.RefreshToken)
	consoleTokens(c, tok, err)
}

func (a *App) consoleLogout(c *gin.Context) {
	var req consoleRefreshRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	if err := a.users.Accounts().Logout(c.Request.Context(), req.RefreshToken); err != nil {
		httpx.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// consoleTokens answers a login step: tokens or an MFA challenge, never
// cached.
func consoleTokens(c *gin.Context, tok any, err error) {
	if err != nil {
		httpx.Error(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, tok)
}

// consoleStats is the body of GET /v1/admin/stats.
type consoleStats struct {
	GeneratedAt time.Time `json:"generated_at"`
	observability.Traffic
	// Status and Checks are what /readyz says; Degraded names every check
	// not "ok" and every kill switch that is off.
	Status   string            `json:"status"`
	Checks   map[string]string `json:"checks"`
	Degraded []string          `json:"degraded"`
	Breakers map[string]string `json:"breakers"`
	Limiter  limiterStats      `json:"limiter"`
}

type limiterStats struct {
	Limit    int64  `json:"limit"`
	InFlight int64  `json:"in_flight"`
	Shed     uint64 `json:"shed"`
}

// killSwitches are the flags whose "off" is a degraded mode worth showing.
var killSwitches = []string{ordersimpl.CheckoutEnabled, productsimpl.SearchEnabled, flags.L2CacheEnabled}

func (a *App) adminStats(c *gin.Context) {
	if len(c.Request.URL.RawQuery) > 0 {
		httpx.Error(c, apperr.Invalid("query.parameter", "this resource takes no query parameters"))
		return
	}
	tr, err := a.stats.Traffic()
	if err != nil {
		httpx.Error(c, apperr.Internal(err))
		return
	}
	ctx := c.Request.Context()
	rep, _ := a.health.Evaluate(ctx)
	out := consoleStats{GeneratedAt: time.Now().UTC().Truncate(time.Millisecond), Traffic: tr,
		Status: rep.Status, Checks: rep.Checks, Degraded: []string{},
		Breakers: map[string]string{"payment_provider": a.orders.Payments().State(), "redis": a.cache.Stats().Breaker}}
	for name, v := range rep.Checks {
		if v != "ok" {
			out.Degraded = append(out.Degraded, name+": "+v)
		}
	}
	sort.Strings(out.Degraded)
	for _, key := range killSwitches {
		if !a.flags.Enabled(ctx, key) {
			out.Degraded = append(out.Degraded, "flag "+key+": off")
		}
	}
	ls := a.limiter.Stats()
	out.Limiter = limiterStats{Limit: ls.Limit, InFlight: ls.InFlight, Shed: ls.ShedCritical + ls.ShedOther}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}
