package cache

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// versionRetry is how soon a version whose Redis read failed is read again;
// meanwhile the last known value is used.
const versionRetry = time.Second

// Version returns the current version of a namespace (e.g. "products:lists").
// Callers embed it in keys, so BumpVersion invalidates every such key at
// once without finding them. Redis (INCR) is the source of truth; the local
// copy is kept for L1TTL, which bounds how long a lost pub/sub message can
// leave this instance on an old version. It never fails: with Redis down it
// returns the last known value (plus local bumps).
func (c *Cache) Version(ctx context.Context, name string) int64 {
	v, fresh, _ := c.vers.get(name)
	if fresh || c.l2 == nil {
		return v
	}
	r, _, _ := c.verFlights.Do(name, func() (any, error) {
		return c.refreshVersion(context.WithoutCancel(ctx), name), nil
	})
	return r.(int64)
}

func (c *Cache) refreshVersion(ctx context.Context, name string) int64 {
	_, _, gen := c.vers.get(name)
	n, err := c.l2.getInt(ctx, c.versionKey(name))
	if err != nil {
		return c.vers.retryLater(name, versionRetry)
	}
	return c.vers.refreshed(name, n, gen, c.jitter(c.cfg.L1TTL))
}

// BumpVersion moves a namespace to a new version: at once on this instance,
// in Redis (INCR), and on peers (pub/sub) before it returns. If Redis cannot
// be reached the local bump stands, an error wrapping ErrL2Unavailable is
// returned, and the increment is replayed when Redis answers again.
func (c *Cache) BumpVersion(ctx context.Context, name string) error {
	if c.l2 == nil {
		c.vers.bump(name, false)
		return nil
	}
	c.vers.bump(name, true)
	return c.pushVersion(context.WithoutCancel(ctx), name, 1, false)
}

// pushVersion applies by increments to Redis and tells peers the result. A
// publish failure is not retried: Redis holds the new number, so peers see
// it within L1TTL anyway.
func (c *Cache) pushVersion(ctx context.Context, name string, by int64, replay bool) error {
	n, err := c.l2.incrBy(ctx, c.versionKey(name), by)
	if err != nil {
		if !replay {
			c.vers.failedPush(name)
		}
		return err
	}
	c.vers.pushed(name, n, by, replay, c.jitter(c.cfg.L1TTL))
	return c.publish(ctx, message{Versions: map[string]int64{name: n}})
}

// versions holds the local view of namespace versions. Names are a handful
// of constants in code, so the map is not bounded.
//
// The effective version is base + inflight + failed, where base is the last
// value Redis told us (GET, INCR reply, a peer's message), inflight counts
// local bumps whose INCR is under way and failed counts bumps Redis has not
// taken yet. Counting local bumps on top of base makes a bump effective here
// at once even with Redis down; replaying exactly the failed count keeps
// Redis and this instance in step afterwards, so the version never goes
// backwards here.
type versions struct {
	mu sync.RWMutex
	m  map[string]*version
	// changed (unix nanos) moves whenever an entry may have changed, before
	// the new value is visible (Cache.InvalidatedAt).
	changed atomic.Int64
}

type version struct {
	base, inflight, failed int64
	until                  int64  // unix nanos: read base from Redis again after this
	gen                    uint64 // moves whenever the entry changes
}

func (e *version) effective() int64 { return e.base + e.inflight + e.failed }

func newVersions() *versions { return &versions{m: make(map[string]*version)} }

func (vs *versions) get(name string) (v int64, fresh bool, gen uint64) {
	vs.mu.RLock()
	defer vs.mu.RUnlock()
	e := vs.m[name]
	if e == nil {
		return 0, false, 0
	}
	return e.effective(), time.Now().UnixNano() < e.until, e.gen
}

// entry must be called with mu held.
func (vs *versions) entry(name string) *version {
	vs.changed.Store(time.Now().UnixNano())
	e := vs.m[name]
	if e == nil {
		e = &version{}
		vs.m[name] = e
	}
	e.gen++
	return e
}

// refreshed records a value read from Redis. If nothing touched the entry
// during the read, Redis wins even when lower (Redis was reset); otherwise
// a newer value (a peer's message, our INCR) may already be there, and the
// read, which may predate it, must not move the version back.
func (vs *versions) refreshed(name string, n int64, gen uint64, ttl time.Duration) int64 {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	e := vs.m[name]
	if e == nil || e.gen != gen {
		e = vs.entry(name)
		n = max(n, e.base)
	}
	if n != e.base {
		vs.changed.Store(time.Now().UnixNano())
	}
	e.gen++
	e.base = n
	e.until = time.Now().Add(ttl).UnixNano()
	return e.effective()
}

// seen records a value a peer published; messages may arrive out of order,
// so only ever move forward.
func (vs *versions) seen(name string, n int64, ttl time.Duration) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	e := vs.entry(name)
	e.base = max(e.base, n)
	e.until = time.Now().Add(ttl).UnixNano()
}

func (vs *versions) retryLater(name string, d time.Duration) int64 {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	e := vs.entry(name)
	e.until = time.Now().Add(d).UnixNano()
	return e.effective()
}

// bump moves the local version at once. Without Redis the local counter is
// the whole truth and never expires.
func (vs *versions) bump(name string, viaRedis bool) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	e := vs.entry(name)
	if viaRedis {
		e.inflight++
		return
	}
	e.base++
	e.until = math.MaxInt64
}

func (vs *versions) failedPush(name string) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	e := vs.entry(name)
	e.inflight--
	e.failed++
}

// pushed records Redis's reply n to an INCRBY of by local bumps.
func (vs *versions) pushed(name string, n, by int64, replay bool, ttl time.Duration) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	e := vs.entry(name)
	if replay {
		e.failed -= by
	} else {
		e.inflight -= by
	}
	e.base = max(e.base, n)
	e.until = time.Now().Add(ttl).UnixNano()
}

// failedBumps lists the increments Redis still owes, by name.
func (vs *versions) failedBumps() map[string]int64 {
	vs.mu.RLock()
	defer vs.mu.RUnlock()
	var out map[string]int64
	for name, e := range vs.m {
		if e.failed > 0 {
			if out == nil {
				out = make(map[string]int64)
			}
			out[name] = e.failed
		}
	}
	return out
}

// expireAll makes every version be read from Redis again (after a gap in
// the pub/sub subscription, when bumps may have been missed).
func (vs *versions) expireAll() {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	for _, e := range vs.m {
		e.until = 0
	}
}
