package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/httpx"
)

// AccountKey is the key of the account a request targets (the normalized
// email a login or a registration names). Keyed by the target rather than
// the sender, guesses at one account from many addresses share one quota.
// Normalized as the users module compares emails (trimmed, lower-cased),
// so spellings of one address share it; hashed, so personal data stays out
// of Redis key names and any length fits.
func AccountKey(account string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(account))))
	return "a:" + hex.EncodeToString(sum[:16])
}

// LimitAccount counts the request once more, against the account it
// targets under group's policy, on top of the caller's own key that
// Middleware counted: a handler calls it once it knows the account (the
// email is in the body, which the middleware does not read). The response
// keeps reporting one policy, the tighter of the two decisions (the fewer
// requests left; a refusal always). False when refused: the 429 problem is
// written and the handler must stop.
func (l *Limiter) LimitAccount(c *gin.Context, group, account string) bool {
	if l.opts.Disabled {
		return true
	}
	g, ok := l.groups[group]
	if !ok || (l.opts.Enabled != nil && !l.opts.Enabled(c.Request.Context())) {
		return true
	}
	d := l.Allow(c.Request.Context(), AccountKey(account), g.policy)
	h := c.Writer.Header()
	if reported, ok := remainingOf(h.Get(stateHeaderKey)); !d.Allowed || !ok || d.Remaining < reported {
		httpx.SetCanonical(h, policyHeaderKey, g.header, stateHeaderKey, StateHeader(g.policy, d))
	}
	if !d.Allowed {
		l.outcomes.WithLabelValues(group, "limited").Inc()
		httpx.Error(c, ErrLimited.WithRetryAfter(max(d.Reset, time.Second)))
		return false
	}
	l.outcomes.WithLabelValues(group, "allowed").Inc()
	return true
}

// remainingOf reads r from a RateLimit value StateHeader wrote; false when
// there is none (the route's own group is not limited).
func remainingOf(state string) (int, bool) {
	_, rest, ok := strings.Cut(state, ";r=")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, ";")
	n, err := strconv.Atoi(num)
	return n, err == nil
}
