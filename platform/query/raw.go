package query

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// CodeSyntax is a query string that does not parse (part of the contract:
// it becomes the problem type URI).
const CodeSyntax = "query.syntax"

// plainQueryParams bounds the fast path of CheckRawQuery: a query string
// with fewer pairs cannot exceed net/url's limit on their number.
const plainQueryParams = 1000

// CheckRawQuery reports the first part of a raw query string that does not
// parse, or that decodes to text no store can hold. net/url's Query (what
// gin and every handler read) silently drops a pair it cannot parse
// ("fields=id;name", "fields=%zz"), so "?limit=1;fields=id" would answer
// the default limit with full objects; checked once per request, the
// handlers can rely on the values being the whole query. Keys and values
// must be valid UTF-8 without NUL: Postgres text cannot hold either, and
// whichever filter, search or id lookup a value reaches, it must be a 400,
// never a 500. The error is a KindInvalid *apperr.Error naming the part.
func CheckRawQuery(raw string) error {
	if plain(raw) {
		return nil // the common case, without allocating
	}
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return invalid(CodeSyntax, "query string part %s does not parse: ';' is not a separator, use '&'", quote(pair))
		}
		key, value, _ := strings.Cut(pair, "=")
		k, errK := url.QueryUnescape(key)
		v, errV := url.QueryUnescape(value)
		if errK != nil || errV != nil {
			return invalid(CodeSyntax, "query string part %s does not parse: a %% must start an escape of two hex digits (%%25 for %% itself)",
				quote(pair))
		}
		if !text(k) || !text(v) {
			return invalid(CodeSyntax, "query string part %s must decode to valid UTF-8 text without NUL characters", quote(pair))
		}
	}
	// The authority: whatever else net/url refuses (too many pairs) must
	// not be dropped either.
	if _, err := url.ParseQuery(raw); err != nil {
		return invalid(CodeSyntax, "the query string does not parse: %s", err.Error())
	}
	return nil
}

// plain reports a query string of printable ASCII without escapes or
// semicolons and with few pairs: url.ParseQuery accepts it whole and it
// decodes to itself (but '+'), so there is nothing to check.
func plain(raw string) bool {
	pairs := 1
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '%' || c == ';' || c < ' ' || c >= 0x7f:
			return false
		case c == '&':
			if pairs++; pairs >= plainQueryParams {
				return false
			}
		}
	}
	return true
}

func text(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }
