package httpx

import (
	"net/http"
	"slices"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
)

// CORSOptions are http.cors of the configuration.
type CORSOptions struct {
	AllowedOrigins   []string // exact origins, or "*" (never with AllowCredentials)
	AllowCredentials bool
	MaxAge           time.Duration
}

// corsExposed are the response headers browser code may read: the API's
// caching, paging, rate-limit and tracing fields.
var corsExposed = []string{"ETag", "Location", "Link", "RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-ID", "Age", "Warning"}

// corsAllowed are the request headers browser code may send.
var corsAllowed = []string{"Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", "X-Request-ID", "traceparent"}

// CORS answers preflights and adds the CORS headers for the configured
// origins (github.com/gin-contrib/cors). Nil when no origin is configured:
// then no CORS header is ever sent. A request from an origin that is not
// allowed passes through without CORS headers (the browser then withholds
// the response from the page) rather than getting a bare 403.
func CORS(o CORSOptions) gin.HandlerFunc {
	if len(o.AllowedOrigins) == 0 {
		return nil
	}
	cfg := cors.Config{
		AllowMethods:     []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions},
		AllowHeaders:     corsAllowed,
		ExposeHeaders:    corsExposed,
		AllowCredentials: o.AllowCredentials,
		MaxAge:           o.MaxAge,
	}
	all := slices.Contains(o.AllowedOrigins, "*")
	if all {
		cfg.AllowAllOrigins = true
		cfg.AllowCredentials = false // "*" with credentials is refused by config validation; never send both
	} else {
		cfg.AllowOrigins = o.AllowedOrigins
	}
	h := cors.New(cfg)
	return func(c *gin.Context) {
		if origin := c.GetHeader("Origin"); origin != "" && !all && !slices.Contains(o.AllowedOrigins, origin) {
			c.Next()
			return
		}
		h(c)
	}
}
