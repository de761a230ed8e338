// Package consistency decides, per request, whether reads may go to a read
// replica: read-your-own-writes across instances.
//
// A GET or HEAD may read a replica (db.AllowReplica), unless its caller
// wrote recently: any other method by an authenticated principal marks it
// (before the handler runs, so the mark is in place before the client can
// see the response) for database.read_your_writes_window, in this
// instance's memory and in Redis (SET PX, so every instance sees it), and
// the principal's reads go to the primary (db.RequirePrimary) while the mark
// lives; so do sessions whose token was issued within the window (a new
// user wrote anonymously when registering). Writes themselves, and every read outside a request, use the
// primary anyway. If Redis cannot be asked, authenticated reads go to the
// primary: stale reads are the failure we refuse, extra primary reads are
// the price. Anonymous callers cannot be recognised and read replicas
// (within replica_max_lag); cache fills are protected separately
// (cache.Config.LoadContext).
package consistency

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/db"
)

// Tracker remembers which principals wrote recently.
type Tracker struct {
	window  time.Duration
	rdb     redis.UniversalClient // nil: this instance only
	prefix  string
	timeout time.Duration
	l2OK    func() bool // false: Redis is known down, do not wait for it
	log     *slog.Logger

	mu    sync.Mutex
	local map[string]int64 // principal -> unix nanos the mark expires
}

// Options configure a Tracker. Redis may be nil (single instance).
type Options struct {
	Window    time.Duration
	Redis     redis.UniversalClient
	Namespace string
	// RedisHealthy reports whether Redis is believed reachable (the cache's
	// breaker); nil means always try.
	RedisHealthy func() bool
	Log          *slog.Logger
}

// New builds a Tracker.
func New(o Options) *Tracker {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if cl, ok := o.Redis.(*redis.Client); ok && cl == nil {
		o.Redis = nil
	}
	return &Tracker{window: o.Window, rdb: o.Redis, prefix: o.Namespace + ":ryw:", timeout: 100 * time.Millisecond,
		l2OK: o.RedisHealthy, log: o.Log, local: make(map[string]int64)}
}

// maxLocal bounds the in-memory marks; expired ones are swept past it.
const maxLocal = 100_000

// MarkWrote records that principal is writing now.
func (t *Tracker) MarkWrote(ctx context.Context, principal string) {
	now := time.Now()
	t.mu.Lock()
	if len(t.local) >= maxLocal {
		for k, exp := range t.local {
			if exp <= now.UnixNano() {
				delete(t.local, k)
			}
		}
		if len(t.local) >= maxLocal {
			clear(t.local) // a flood of writers: forget them here, Redis still knows
		}
	}
	t.local[principal] = now.Add(t.window).UnixNano()
	t.mu.Unlock()
	if t.rdb == nil || (t.l2OK != nil && !t.l2OK()) {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	if err := t.rdb.Set(rctx, t.prefix+principal, "1", t.window).Err(); err != nil {
		t.log.Warn("read-your-writes mark not stored in Redis; other instances may read a lagging replica for this caller", "err", err)
	}
}

// WroteRecently reports whether principal wrote within the window, here or
// (through Redis) on another instance. When Redis cannot answer it says
// yes: the caller then reads the primary.
func (t *Tracker) WroteRecently(ctx context.Context, principal string) bool {
	now := time.Now().UnixNano()
	t.mu.Lock()
	exp, ok := t.local[principal]
	if ok && exp <= now {
		delete(t.local, principal)
		ok = false
	}
	t.mu.Unlock()
	if ok || t.rdb == nil {
		return ok
	}
	if t.l2OK != nil && !t.l2OK() {
		return true
	}
	rctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	n, err := t.rdb.Exists(rctx, t.prefix+principal).Result()
	if err != nil {
		return true
	}
	return n > 0
}

// freshSession reports whether the caller's (already verified) token was
// issued within the window: a caller who just registered or logged in wrote
// anonymously (POST /auth/register) and could not be marked, so a new
// session reads the primary for a while.
func (t *Tracker) freshSession(p auth.Principal) bool {
	if p.IssuedAt.IsZero() {
		return false
	}
	// iat has one-second resolution: count from the end of that second.
	return time.Since(p.IssuedAt.Truncate(time.Second).Add(time.Second)) < t.window
}

// Middleware routes the reads of each request. Mount it after
// authentication.
func (t *Tracker) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		p, authed := auth.Caller(c)
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead:
			if authed && (t.freshSession(p) || t.WroteRecently(ctx, p.UserID)) {
				ctx = db.RequirePrimary(ctx)
			} else {
				ctx = db.AllowReplica(ctx)
			}
		default:
			if authed {
				t.MarkWrote(ctx, p.UserID)
			}
			ctx = db.RequirePrimary(ctx)
		}
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}
