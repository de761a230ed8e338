package query

import (
	"strconv"
	"unicode/utf8"

	"example.com/productapi/platform/apperr"
)

// Error codes; they become the problem type URI, so they are part of the
// public contract.
const (
	CodeParameter = "query.parameter" // unknown or repeated parameter
	CodeFields    = "query.fields"
	CodeInclude   = "query.include"
	CodeSort      = "query.sort"
	CodeLimit     = "query.limit"
	CodeCursor    = "query.cursor"
	CodeFilter    = "query.filter"
)

// maxEcho bounds how much client input an error message repeats, so a
// hostile query string cannot blow up problem bodies or logs.
const maxEcho = 64

// quote renders client input for a message: at most maxEcho bytes (cut on
// a rune boundary), Go-quoted so control characters and invalid UTF-8 are
// escaped instead of reaching a log line or terminal raw.
func quote(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	cut := maxEcho
	for cut > maxEcho-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

func invalid(code, format string, args ...any) *apperr.Error {
	return apperr.Invalid(code, format, args...)
}
