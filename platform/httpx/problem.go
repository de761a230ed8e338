// Package httpx holds the HTTP conventions every module shares: RFC 9457
// problem responses (the one place errors become HTTP), request IDs, access
// logs, panic recovery, JSON body decoding and validation, security headers.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/apperr"
)

// StatusClientClosedRequest is logged and counted for requests whose client
// disconnected before the answer (nginx's 499).
const StatusClientClosedRequest = 499

// ProblemBaseURI prefixes every problem type.
const ProblemBaseURI = "https://productapi.example/problems/"

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Instance  string              `json:"instance,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []apperr.FieldError `json:"errors,omitempty"`
}

type kindInfo struct {
	status int
	slug   string
	title  string
}

var kinds = map[apperr.Kind]kindInfo{
	apperr.KindInvalid:            {http.StatusBadRequest, "bad-request", "Bad request"},
	apperr.KindValidation:         {http.StatusUnprocessableEntity, "validation", "Validation failed"},
	apperr.KindUnauthorized:       {http.StatusUnauthorized, "unauthorized", "Authentication required"},
	apperr.KindForbidden:          {http.StatusForbidden, "forbidden", "Forbidden"},
	apperr.KindNotFound:           {http.StatusNotFound, "not-found", "Not found"},
	apperr.KindConflict:           {http.StatusConflict, "conflict", "Conflict"},
	apperr.KindPreconditionFailed: {http.StatusPreconditionFailed, "precondition-failed", "Precondition failed"},
	apperr.KindTooLarge:           {http.StatusRequestEntityTooLarge, "too-large", "Request body too large"},
	apperr.KindUnsupportedMedia:   {http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"},
	apperr.KindTooManyRequests:    {http.StatusTooManyRequests, "rate-limited", "Too many requests"},
	apperr.KindUnavailable:        {http.StatusServiceUnavailable, "unavailable", "Service unavailable"},
	apperr.KindInternal:           {http.StatusInternalServerError, "internal", "Internal server error"},
}

// Error writes err as a problem response and aborts the chain. Internal
// errors are logged with the request ID; clients only see a generic detail.
func Error(c *gin.Context, err error) {
	if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
		// The client went away mid-request: nobody reads the answer, and it
		// is not a server error (it must not count against the 5xx rate).
		// 499 is nginx's "client closed request".
		logger(c).InfoContext(c.Request.Context(), "client closed the request", "request_id", RequestID(c), "route", c.FullPath())
		c.AbortWithStatus(StatusClientClosedRequest)
		return
	}
	e := apperr.As(err)
	info, ok := kinds[e.Kind]
	if !ok {
		info = kinds[apperr.KindInternal]
	}
	p := Problem{
		Type:      ProblemBaseURI + info.slug,
		Title:     info.title,
		Status:    info.status,
		Detail:    e.Message,
		Instance:  c.Request.URL.Path,
		RequestID: RequestID(c),
		Errors:    e.Fields,
	}
	if e.Code != "" && e.Kind != apperr.KindInternal && e.Kind != apperr.KindValidation {
		p.Type = ProblemBaseURI + e.Code
	}
	if e.Kind == apperr.KindInternal {
		p.Detail = "an unexpected error occurred; quote the request_id when reporting it"
		logger(c).ErrorContext(c.Request.Context(), "internal error", "err", err, "request_id", p.RequestID, "route", c.FullPath())
	} else if e.Err != nil {
		logger(c).WarnContext(c.Request.Context(), "request failed", "code", e.Code, "err", e.Err, "request_id", p.RequestID)
	}
	if e.RetryAfter > 0 {
		secs := int(e.RetryAfter.Seconds() + 0.999)
		c.Header("Retry-After", strconv.Itoa(secs))
	}
	WriteProblem(c, p)
}

// WriteProblem renders p; used directly only by middleware that has no error value.
func WriteProblem(c *gin.Context, p Problem) {
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"` + ProblemBaseURI + `internal","title":"Internal server error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	c.Header("Cache-Control", "no-store")
	c.Data(p.Status, "application/problem+json", body)
	c.Abort()
}

func logger(c *gin.Context) *slog.Logger {
	if s := stateOf(c); s != nil && s.log != nil {
		return s.log
	}
	return slog.Default()
}
