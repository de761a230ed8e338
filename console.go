package main

// The operator console: static files under /admin/ (web/admin, embedded)
// and the one JSON endpoint only it needs, GET /v1/admin/stats.

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/flags"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/observability"
	"example.com/productapi/web"
)

// statsWindow is about how far back the console's traffic figures reach;
// statsEvery is how often a snapshot is taken for them.
const (
	statsWindow = 30 * time.Second
	statsEvery  = 5 * time.Second
)

// serveConsole answers GET /admin/*path with the console's files. Every
// file is revalidated (no-cache + a content ETag): the files keep their
// names across releases, so they must not be cached blindly.
func serveConsole(c *gin.Context) {
	asset, ok := web.ConsoleFile(c.Param("path"))
	if !ok {
		httpx.NotFound(c)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", web.ConsoleCSP)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", asset.ETag)
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagListHas(inm, asset.ETag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, asset.ContentType, asset.Body)
}

func etagListHas(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
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
var killSwitches = []string{flags.CheckoutEnabled, flags.SearchEnabled, flags.L2CacheEnabled}

func (a *application) adminStats(c *gin.Context) {
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
		Breakers: map[string]string{"payment_provider": a.orders.BreakerState(), "redis": a.cache.Stats().Breaker}}
	for name, v := range rep.Checks {
		if v != "ok" {
			out.Degraded = append(out.Degraded, name+": "+v)
		}
	}
	sort.Strings(out.Degraded)
	for _, key := range killSwitches {
		if !a.flags.Bool(ctx, key, true) {
			out.Degraded = append(out.Degraded, "flag "+key+": off")
		}
	}
	ls := a.limiter.Stats()
	out.Limiter = limiterStats{Limit: ls.Limit, InFlight: ls.InFlight, Shed: ls.ShedCritical + ls.ShedOther}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}
