package auth

import "strings"

// ParseBearer extracts the token of an `Authorization: Bearer <token>`
// header value (RFC 6750: the scheme is case-insensitive). ok is false for
// any other scheme, a missing token or a token with inner whitespace.
func ParseBearer(header string) (token string, ok bool) {
	scheme, rest, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(rest)
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}
