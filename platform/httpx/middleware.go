package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"example.com/productapi/platform/apperr"
)

const requestIDKey = "httpx.request_id"

// RequestIDHeader is echoed on every response.
const RequestIDHeader = "X-Request-ID"

// RequestID returns the request's ID (set by the RequestID middleware).
func RequestID(c *gin.Context) string { return c.GetString(requestIDKey) }

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
		id := c.GetHeader(RequestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		c.Set(requestIDKey, id)
		// The service logger itself: problem logs add request_id explicitly,
		// so no per-request child logger is built on the hot path.
		c.Set(loggerKey, log)
		c.Header(RequestIDHeader, id)
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
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", c.Writer.Size()),
			slog.String("request_id", RequestID(c)),
			slog.String("client_ip", c.ClientIP()),
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

func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// The API serves JSON; the console and docs pages only load their own
	// scripts and styles.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	if c.Request.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	c.Next()
}

// bodyLimit caps every request body; Decode reports the overflow as 413.
func bodyLimit(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			Error(c, apperr.New(apperr.KindTooLarge, "request.too_large", fmt.Sprintf("request body exceeds %d bytes", max)))
			return
		}
		if c.Request.Body != nil {
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
	WriteProblem(c, Problem{Type: ProblemBaseURI + "method-not-allowed", Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
		Detail: c.Request.Method + " is not allowed here", Instance: c.Request.URL.Path, RequestID: RequestID(c)})
}
