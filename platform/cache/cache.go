// Package cache is a two-level cache-aside cache: a bounded in-process L1
// (patrickmn/go-cache) in front of an optional Redis L2. Loads of one key
// are collapsed (singleflight), TTLs are jittered, "not found" is cached
// briefly, the last good value is served when a load fails
// (stale-if-error), and invalidations reach other instances over Redis
// pub/sub. Redis is optional at run time too: every Redis call has a short
// timeout and sits behind a circuit breaker, and a Redis failure only ever
// means "skip L2". Values are opaque bytes; the package knows nothing about
// what it stores.
package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"

	"example.com/productapi/platform/pubsub"
)

// Result is a cached or loaded value. Value is shared with the cache: do not
// modify it.
type Result struct {
	Value  []byte
	Found  bool          // false: the source said "not found" (possibly cached)
	Stale  bool          // served past its TTL because the load failed
	Age    time.Duration // since the value was loaded from the source
	Source string        // SourceL1, SourceL2, SourceLoad or SourceStale
	entry  *entry        // the L1 entry served, if any (Typed keeps its decoded value there)
}

// Result sources.
const (
	SourceL1    = "l1"
	SourceL2    = "l2"
	SourceLoad  = "load"
	SourceStale = "stale"
)

// Loader fetches a value from the source of truth. found=false with a nil
// error is a definite miss, cached for NegativeTTL. The cache keeps value:
// the loader must not reuse it.
type Loader func(ctx context.Context) (value []byte, found bool, err error)

// Cache is safe for concurrent use. Close it to stop its goroutines.
type Cache struct {
	cfg     Config
	l1      *l1
	l2      *l2 // nil without Redis
	vers    *versions
	pend    *pending
	origin  string // tags our pub/sub messages so we skip our own
	channel string
	prefix  string

	flights    singleflight.Group
	verFlights singleflight.Group
	// epoch moves on every invalidation. A load or L2 read that began under
	// an older epoch may carry the value just invalidated, so it is returned
	// to its callers but not stored. Global rather than per key: cheap, and
	// a skipped fill only costs one more load.
	epoch atomic.Uint64
	// invalidatedAt (unix nanos) is stored before every epoch move; see
	// Config.LoadContext.
	invalidatedAt atomic.Int64
	// ackSeq numbers this instance's invalidation acknowledgement lists.
	ackSeq atomic.Uint64

	healthEvery time.Duration // subscriber keepalive; a field so tests can shorten it

	st         counters
	subLog     *rateLog
	subscribed atomic.Bool

	life      context.Context
	stop      context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once
}

// New builds a Cache. rdb may be nil (L1 only). Metrics are registered on
// reg when it is not nil, labelled cache=<Namespace>. Call Start to receive
// other instances' invalidations, and Close when done.
func New(cfg Config, rdb redis.UniversalClient, logger *slog.Logger, reg prometheus.Registerer) (*Cache, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	c := &Cache{
		cfg:     cfg,
		l1:      newL1(cfg.L1MaxEntries),
		vers:    newVersions(),
		pend:    newPending(),
		origin:  hex.EncodeToString(id[:]),
		channel: cfg.Namespace + ":invalidate",
		prefix:  cfg.Namespace + ":",
		subLog:  newRateLog(logger, 10*time.Second),

		healthEvery: pubsub.DefaultHealthEvery,
	}
	if cl, ok := rdb.(*redis.Client); ok && cl == nil {
		rdb = nil // a nil *redis.Client in the interface means "no Redis" too
	}
	if rdb != nil {
		c.l2 = newL2(rdb, cfg.RedisTimeout, cfg.BreakerCooldown, logger)
	}
	if reg != nil {
		if err := reg.Register(newCollector(c)); err != nil {
			return nil, fmt.Errorf("cache: register metrics: %w", err)
		}
	}
	c.life, c.stop = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.housekeeping()
	return c, nil
}

// Close stops the subscriber and the housekeeping loop and waits for them.
// It does not close the Redis client, which the caller owns.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.stop()
		c.wg.Wait()
	})
	return nil
}

// L2Healthy reports whether the Redis circuit breaker is closed. Without
// Redis there is nothing to be unhealthy.
func (c *Cache) L2Healthy() bool {
	return c.l2 == nil || c.l2.state() == gobreaker.StateClosed
}

func (c *Cache) dataKey(key string) string     { return c.prefix + "k:" + key }
func (c *Cache) versionKey(name string) string { return c.prefix + "v:" + name }

// GetOrLoad returns key from L1, else L2 (filling L1), else load, collapsing
// concurrent loads of one key into one call and storing the result in both
// levels. If load fails and L1 still holds an expired value within
// StaleFor, that value is returned with Stale set instead of the error.
// Redis trouble never makes it fail. The shared load does not stop when
// this caller's ctx does (others may be waiting); the caller stops waiting.
func (c *Cache) GetOrLoad(ctx context.Context, key string, load Loader) (Result, error) {
	now := time.Now().UnixNano()
	if e, ok := c.l1.get(key); ok && e.fresh(now) {
		c.st.l1Hits.Add(1)
		return e.result(now, SourceL1), nil
	}
	c.st.l1Misses.Add(1)
	ch := c.flights.DoChan(key, func() (any, error) { return c.fill(ctx, key, load) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return Result{}, r.Err
		}
		return r.Val.(Result), nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// fill runs once per key at a time, on behalf of every waiting caller.
func (c *Cache) fill(caller context.Context, key string, load Loader) (Result, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(caller), c.cfg.LoadTimeout)
	defer cancel()
	now := time.Now().UnixNano()
	if e, ok := c.l1.get(key); ok && e.fresh(now) {
		return e.result(now, SourceL1), nil // a flight that just ended filled it
	}
	r, ok, l2Err := c.getL2(ctx, key)
	if ok {
		return r, nil
	}
	epoch := c.epoch.Load()
	if c.cfg.LoadContext != nil {
		ctx = c.cfg.LoadContext(ctx, c.InvalidatedAt()) // read after the epoch: see invalidatedAt
	}
	value, found, err := safeLoad(ctx, load)
	if err != nil {
		c.st.loadErrors.Add(1)
		now = time.Now().UnixNano()
		if e, ok := c.l1.get(key); ok && e.fresh(now) {
			return e.result(now, SourceL1), nil // refilled (Set) while we loaded
		} else if ok && e.found {
			c.st.staleServed.Add(1)
			r := e.result(now, SourceStale)
			r.Stale = true
			return r, nil
		}
		return Result{}, err
	}
	if !found {
		value = nil
		c.st.loadsNotFound.Add(1)
	} else {
		c.st.loadsFound.Add(1)
	}
	loadedAt := time.Now().UnixNano()
	if c.epoch.Load() == epoch {
		// After a failed L2 read, writing L2 would most likely fail too and
		// double this caller's wait while the breaker is still closed.
		c.store(ctx, key, value, found, loadedAt, l2Err == nil)
	}
	return Result{Value: value, Found: found, Source: SourceLoad}, nil
}

// safeLoad turns a loader panic into an error: singleflight would re-panic
// it on a goroutine of its own, taking the process down.
func safeLoad(ctx context.Context, load Loader) (value []byte, found bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cache: loader panicked: %v", p)
		}
	}()
	return load(ctx)
}

// InvalidatedAt is when this instance last dropped a key, purged, or saw a
// namespace version change (zero if never).
func (c *Cache) InvalidatedAt() time.Time {
	n := max(c.invalidatedAt.Load(), c.vers.changed.Load())
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Get returns key from L1 or L2 without loading. ok reports whether the
// cache had an answer; Result.Found tells a value from a cached "not found".
func (c *Cache) Get(ctx context.Context, key string) (Result, bool) {
	now := time.Now().UnixNano()
	if e, ok := c.l1.get(key); ok && e.fresh(now) {
		c.st.l1Hits.Add(1)
		return e.result(now, SourceL1), true
	}
	c.st.l1Misses.Add(1)
	r, ok, _ := c.getL2(ctx, key)
	return r, ok
}

// getL2 reads L2 and fills L1 on a hit. err reports a failed (or skipped)
// Redis call; a plain miss is not an error.
func (c *Cache) getL2(ctx context.Context, key string) (r Result, ok bool, err error) {
	if !c.l2Usable(ctx) || c.pend.blocks(key) {
		return Result{}, false, nil
	}
	epoch := c.epoch.Load()
	raw, err := c.l2.get(ctx, c.dataKey(key))
	if err != nil {
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		return Result{}, false, err
	}
	value, found, loadedAt, ok := decodeL2(raw)
	if !ok {
		return Result{}, false, nil
	}
	if c.epoch.Load() == epoch {
		c.setL1(key, value, found, loadedAt)
	}
	return Result{Value: value, Found: found, Age: time.Since(time.Unix(0, loadedAt)), Source: SourceL2}, true, nil
}

// Set writes value through to L1 and L2 and tells peers to drop their L1
// copy. The cache keeps value: do not modify it afterwards. Like every
// write it outlives ctx's cancellation.
func (c *Cache) Set(ctx context.Context, key string, value []byte) {
	c.invalidatedAt.Store(time.Now().UnixNano())
	c.epoch.Add(1) // a load already under way must not overwrite this newer value
	loadedAt := time.Now().UnixNano()
	c.setL1(key, value, true, loadedAt)
	if c.l2 == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	var payload []byte // nil deletes: with L2 switched off, L2 must not keep an old copy
	if c.l2Usable(ctx) {
		payload = encodeL2(value, true, loadedAt)
	}
	ack := c.newAckKey()
	receivers, err := c.l2.writeAndPublish(ctx, []string{c.dataKey(key)}, payload, c.jitter(c.cfg.L2TTL), c.channel, c.encode(message{Keys: []string{key}, Ack: ack}))
	if err != nil {
		c.pend.add(key)
		return
	}
	c.awaitAcks(ctx, ack, receivers)
}

// store fills both levels after a load.
func (c *Cache) store(ctx context.Context, key string, value []byte, found bool, loadedAt int64, toL2 bool) {
	c.setL1(key, value, found, loadedAt)
	if !toL2 || !c.l2Usable(ctx) || (!found && c.cfg.NegativeTTL < 0) {
		return
	}
	ttl := c.cfg.L2TTL
	if !found {
		ttl = c.cfg.NegativeTTL
	}
	_ = c.l2.set(ctx, c.dataKey(key), encodeL2(value, found, loadedAt), c.jitter(ttl)) // counted and logged inside
}

func (c *Cache) setL1(key string, value []byte, found bool, loadedAt int64) {
	ttl, keep := c.cfg.L1TTL, c.cfg.StaleFor
	if !found {
		// A "not found" is not kept for stale-if-error: serving it for
		// minutes would hide an entity created meanwhile.
		ttl, keep = c.cfg.NegativeTTL, 0
		if ttl < 0 {
			return
		}
	}
	c.l1.set(key, &entry{value: value, found: found, loadedAt: loadedAt}, c.jitter(ttl), max(keep, 0))
}

func (c *Cache) l2Usable(ctx context.Context) bool {
	return c.l2 != nil && (c.cfg.L2Enabled == nil || c.cfg.L2Enabled(ctx))
}

// housekeeping is the janitor go-cache would run (but could not stop) plus
// L2 repair: replaying invalidations Redis missed and probing a half-open
// breaker, so L2 (and /readyz) recover even without traffic.
func (c *Cache) housekeeping() {
	defer c.wg.Done()
	every := min(time.Second, c.cfg.BreakerCooldown/2)
	tick := time.NewTicker(max(every, 10*time.Millisecond))
	defer tick.Stop()
	const sweepEvery = 10 * time.Second
	lastSweep := time.Now()
	for {
		select {
		case <-c.life.Done():
			return
		case now := <-tick.C:
			if c.l2 != nil {
				c.repairL2(c.life)
			}
			if now.Sub(lastSweep) >= sweepEvery {
				c.l1.sweep()
				lastSweep = now
			}
		}
	}
}

func (c *Cache) repairL2(ctx context.Context) {
	switch {
	case c.pend.n.Load() > 0 || c.vers.failedBumps() != nil:
		c.replay(ctx)
	case c.l2.state() == gobreaker.StateHalfOpen:
		_ = c.l2.ping(ctx)
	}
}
