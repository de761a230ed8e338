// Package apperr defines the small set of error kinds every layer returns.
// Domain and platform code return *Error values (or wrap them); exactly one
// place, platform/httpx, turns them into RFC 9457 problem responses. Nothing
// here knows about HTTP status codes except through Kind, so the kinds stay
// meaningful if a module is later called over another transport.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for callers and for the HTTP mapping.
type Kind int

const (
	KindInternal           Kind = iota // unexpected: logged, never shown
	KindInvalid                        // malformed request (400)
	KindValidation                     // well-formed but invalid fields (422)
	KindUnauthorized                   // missing or bad credentials (401)
	KindForbidden                      // authenticated, lacks the role (403)
	KindNotFound                       // absent, or not the caller's (404)
	KindConflict                       // state conflict, duplicate (409)
	KindPreconditionFailed             // If-Match mismatch (412)
	KindTooLarge                       // body over the limit (413)
	KindUnsupportedMedia               // not JSON (415)
	KindTooManyRequests                // rate limited (429)
	KindUnavailable                    // dependency down, feature off (503)
)

// FieldError names one failing field of a validation error.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type that crosses layer boundaries.
type Error struct {
	Kind Kind
	// Code is a stable, namespaced identifier such as "products.not_found".
	Code string
	// Message is safe to show to a client.
	Message string
	// Fields lists every failing field for KindValidation.
	Fields []FieldError
	// RetryAfter, when set, becomes a Retry-After header (429, 503).
	RetryAfter time.Duration
	// Err is the internal cause; it is logged, never returned to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is match sentinel *Error values by Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code
}

// New builds an error of the given kind.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Wrap attaches an internal cause to a copy of a sentinel error.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// WithMessage returns a copy with a more specific client-safe message.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// WithRetryAfter returns a copy carrying a Retry-After hint.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// Invalid is a 400-class error naming what was wrong with the request.
func Invalid(code, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Validation is a 422-class error listing every failing field.
func Validation(fields ...FieldError) *Error {
	msg := "1 field is invalid"
	if len(fields) != 1 {
		msg = fmt.Sprintf("%d fields are invalid", len(fields))
	}
	return &Error{Kind: KindValidation, Code: "validation", Message: msg, Fields: fields}
}

// Unavailable is a 503-class error with a retry hint.
func Unavailable(code, message string, retryAfter time.Duration) *Error {
	return &Error{Kind: KindUnavailable, Code: code, Message: message, RetryAfter: retryAfter}
}

// Internal wraps an unexpected cause; the client sees a generic message.
func Internal(cause error) *Error {
	return &Error{Kind: KindInternal, Code: "internal", Message: "internal error", Err: cause}
}

// KindOf reports the kind of err, KindInternal for foreign errors.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// As extracts the *Error from err, wrapping foreign errors as internal.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}
