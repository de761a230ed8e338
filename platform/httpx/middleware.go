package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"example.com/productapi/platform/apperr"
)

// requestKey holds the *requestState of the request (set by requestID).
const requestKey = "httpx.request"

// requestState is what the first Base middleware records about a request,
// stored with one c.Set (one pointer) instead of one c.Set per value (each
// boxing its value), and never modified afterwards, so a copied gin.Context
// may read it from another goroutine.
type requestState struct {
	id       string
	log      *slog.Logger
	clientIP string
}

func stateOf(c *gin.Context) *requestState {
	v, _ := c.Get(requestKey)
	s, _ := v.(*requestState)
	return s
}

// RequestIDHeader is echoed on every response.
const RequestIDHeader = "X-Request-ID"

// requestIDHeaderKey is RequestIDHeader as Header.Set stores it
// ("X-Request-Id"): computed once, because canonicalizing a key that is not
// already canonical allocates on every Set.
var requestIDHeaderKey = textproto.CanonicalMIMEHeaderKey(RequestIDHeader)

// RequestID returns the request's ID (set by the RequestID middleware).
func RequestID(c *gin.Context) string {
	if s := stateOf(c); s != nil {
		return s.id
	}
	return ""
}

// ClientIP is c.ClientIP(), resolved once per request by the Base
// middleware: the access log, the flags evaluation context and the rate
// limiter all need it, and every c.ClientIP() parses the address (and
// X-Forwarded-For from trusted proxies) and allocates its result again.
// Outside Base (tests mounting single middlewares) it is c.ClientIP().
func ClientIP(c *gin.Context) string {
	if s := stateOf(c); s != nil {
		return s.clientIP
	}
	return c.ClientIP()
}

// saneRequestID accepts a client's ID only when it is short and plain, so it
// is safe to log and echo.
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Base returns the middleware every route gets, in order: request ID, logger
// in context, access log, panic recovery, security headers, body limit.
func Base(log *slog.Logger, maxBody int64) []gin.HandlerFunc {
	return []gin.HandlerFunc{requestID(log), accessLog(log), recovery(log), securityHeaders, bodyLimit(maxBody)}
}

func requestID(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		// c.GetHeader(RequestIDHeader) on the key canonicalized once:
		// Header.Get canonicalizes "X-Request-ID" anew (an allocation) on
		// every call.
		var id string
		if v := c.Request.Header[requestIDHeaderKey]; len(v) > 0 {
			id = v[0]
		}
		if !saneRequestID(id) {
			id = newRequestID()
		}
		// The service logger itself: problem logs add request_id explicitly,
		// so no per-request child logger is built on the hot path. The
		// client IP is resolved here once for the whole chain: the access
		// log needs it for every request anyway (ClientIP).
		c.Set(requestKey, &requestState{id: id, log: log, clientIP: c.ClientIP()})
		// What c.Header(RequestIDHeader, id) does (id is never empty), with
		// the key canonicalized once at start instead of per request.
		c.Writer.Header()[requestIDHeaderKey] = []string{id}
		c.Next()
	}
}

// accessLog writes one structured line per request. The route is the
// template (/v1/products/:id), never the raw path, so logs aggregate.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		ctx := c.Request.Context()
		attrs := [...]slog.Attr{
			slog.String("method", Method(c.Request)),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", c.Writer.Size()),
			slog.String("request_id", RequestID(c)),
			slog.String("client_ip", ClientIP(c)),
			{}, // trace_id, when the request is traced
		}
		n := len(attrs) - 1
		// Set by the tracing middleware mounted before this one: the
		// caller's trace (traceparent) or the server span's.
		if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
			attrs[n] = slog.String("trace_id", sc.TraceID().String())
			n++
		}
		log.LogAttrs(ctx, level, "request", attrs[:n]...)
	}
}

// recovery turns a panic into a 500 problem and logs it with the stack; the
// stack never reaches the client.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				log.ErrorContext(c.Request.Context(), "panic", "panic", fmt.Sprint(r), "request_id", RequestID(c), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					Error(c, apperr.Internal(fmt.Errorf("panic: %v", r)))
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// securityHeaderValues are the key/value pairs securityHeaders sets on every
// response (keys canonical, for SetCanonical); the last pair, HSTS, is sent
// over TLS only.
var securityHeaderValues = []string{
	"X-Content-Type-Options", "nosniff",
	"X-Frame-Options", "DENY",
	"Referrer-Policy", "no-referrer",
	"Cross-Origin-Opener-Policy", "same-origin",
	// The API serves JSON; the console and docs pages only load their own
	// scripts and styles.
	"Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
	"Strict-Transport-Security", "max-age=63072000; includeSubDomains",
}

func securityHeaders(c *gin.Context) {
	kv := securityHeaderValues
	if c.Request.TLS == nil {
		kv = kv[:len(kv)-2]
	}
	SetCanonical(c.Writer.Header(), kv...)
	c.Next()
}

func init() {
	// SetCanonical writes the keys into the header map directly: they must
	// be in the form Header.Set would have stored.
	for i := 0; i < len(securityHeaderValues); i += 2 {
		if k := securityHeaderValues[i]; textproto.CanonicalMIMEHeaderKey(k) != k {
			panic("httpx: security header key not canonical: " + k)
		}
	}
}

// bodyLimit caps every request body; Decode reports the overflow as 413.
func bodyLimit(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			Error(c, apperr.New(apperr.KindTooLarge, "request.too_large", fmt.Sprintf("request body exceeds %d bytes", max)))
			return
		}
		// http.NoBody (what the server gives a request without a body, so
		// most GETs) has nothing to limit: wrapping it would only allocate.
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		}
		c.Next()
	}
}

// NotFound and MethodNotAllowed answer unmatched routes with problems.
func NotFound(c *gin.Context) {
	Error(c, apperr.New(apperr.KindNotFound, "route.not_found", "no such route"))
}

func MethodNotAllowed(c *gin.Context) {
	// The router lists the methods it has routes for; HeadAsGet serves
	// HEAD wherever GET is served.
	h := c.Writer.Header()
	if allow := h.Get("Allow"); slices.Contains(strings.Split(allow, ", "), http.MethodGet) {
		h.Set("Allow", allow+", "+http.MethodHead)
	}
	WriteProblem(c, Problem{Type: ProblemBaseURI + "method-not-allowed", Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
		Detail: Method(c.Request) + " is not allowed here", Instance: c.Request.URL.Path, RequestID: RequestID(c)})
}
