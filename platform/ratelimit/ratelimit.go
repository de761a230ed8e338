// Package ratelimit limits requests per route group with an exact sliding
// window (a sliding-window log): a request is admitted when fewer than
// Limit requests of the same key were admitted in the last Window, so no
// client gets more than Limit in ANY window of that length, however it
// times its requests around a boundary.
//
// Keys are the authenticated user ("u:<id>") or else the client IP
// ("ip:<addr>", IPv6 by /64 prefix) as Gin resolves it from the engine's
// trusted proxies. The credential routes carry no caller (they ignore
// Authorization), so they count per address, and their handlers count the
// target account too (LimitAccount, "a:<hash>").
// The log lives in process (Local) or, when a Redis client
// is given, in Redis (one atomic Lua script per decision) so the limit holds
// across every instance together. Redis trouble (timeout, errors, an open
// circuit breaker) falls back to the local log: requests are never failed
// and never let through unlimited; the breaker's half-open probe brings
// Redis back without an operator.
//
// Every response on a limited route carries the IETF RateLimit header
// fields (draft-ietf-httpapi-ratelimit-headers):
//
//	RateLimit-Policy: "auth";q=10;w=60
//	RateLimit: "auth";r=7;t=42
//
// r is the quota left in the current window and t the seconds until it
// next grows (the oldest admitted request leaves the window). A refused
// request is a 429 problem with Retry-After (seconds).
package ratelimit

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Route groups. Each has its own Policy.
const (
	// GroupAuth: the credential endpoints (every POST under /v1/auth/:
	// login, register, refresh and whatever joins them). Strict: it is
	// where passwords are guessed. Routes name their group where they are
	// registered (routemeta.Meta).
	GroupAuth = "auth"
	// GroupCatalogue: public catalogue reads (GET /v1/products[/:id]).
	GroupCatalogue = "catalogue"
	// GroupDefault: every other /v1 route (writes, orders, users, admin);
	// a route that names no group is in it.
	GroupDefault = "default"
	// GroupConsole: the operator console's own credential endpoints
	// (POST /v1/console/*), so that other login traffic from an address
	// cannot starve the console's sign-in and token refresh. Keyed by the
	// client address; a console login also counts against its target
	// account in GroupAuth (AccountKey), so it buys no extra guesses
	// against any account.
	GroupConsole = "console"
)

// Groups lists every group in a stable order.
var Groups = []string{GroupAuth, GroupCatalogue, GroupDefault, GroupConsole}

// Policy is Limit requests per Window for one group.
type Policy struct {
	Name   string
	Limit  int
	Window time.Duration
}

// Decision is the outcome of one admission.
type Decision struct {
	Allowed bool
	// Remaining is the quota left in the window after this request.
	Remaining int
	// Reset is how long until the quota next grows (the oldest admitted
	// request leaves the window); 0 when nothing is counted.
	Reset time.Duration
}

// maxKeyLen bounds a key built from client input.
const maxKeyLen = 80

// UserKey is the key of an authenticated caller.
func UserKey(userID string) string {
	k := "u:" + sanitize(userID)
	if len(k) > maxKeyLen {
		k = k[:maxKeyLen]
	}
	return k
}

// IPKey is the key of an anonymous client. IPv4 (and IPv4-mapped IPv6)
// addresses count alone; IPv6 addresses count by their /64, which one
// client usually controls whole. Anything unparsable shares one key.
func IPKey(ip string) string {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return "ip:unknown"
	}
	addr = addr.Unmap().WithZone("")
	// Appended into a stack buffer: one allocation (the returned string)
	// instead of two (the address's String and the concatenation). AppendTo
	// writes what String returns for a valid address or prefix.
	var buf [64]byte
	b := append(buf[:0], "ip:"...)
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return string(p.AppendTo(b))
	}
	return string(addr.AppendTo(b))
}

// sanitize keeps a key free of separators and control characters.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == ':' || r == '"' || r == ';' || r > '~' {
			return '_'
		}
		return r
	}, s)
}

// PolicyHeader is the RateLimit-Policy field value of p.
func PolicyHeader(p Policy) string {
	return `"` + p.Name + `";q=` + strconv.Itoa(p.Limit) + ";w=" + strconv.Itoa(seconds(p.Window))
}

// StateHeader is the RateLimit field value of d under p. It runs on every
// limited request, so it is appended into a stack buffer: one allocation
// (the string) instead of up to three (each strconv.Itoa of a number above
// 99 and the concatenation).
func StateHeader(p Policy, d Decision) string {
	var buf [64]byte
	b := append(buf[:0], '"')
	b = append(b, p.Name...)
	b = append(b, `";r=`...)
	b = strconv.AppendInt(b, int64(d.Remaining), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, int64(seconds(d.Reset)), 10)
	return string(b)
}

// seconds rounds up: a client waiting t seconds must find the quota back.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
