package cache

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"
)

// Config tunes a Cache. Zero values take the defaults noted; for
// NegativeTTL, StaleFor and Jitter a negative value turns the feature off.
type Config struct {
	Namespace       string        // required: prefixes Redis keys and names the pub/sub channel
	L1MaxEntries    int           // default 10000
	L1TTL           time.Duration // default 30s: short, it bounds staleness if a pub/sub message is lost
	L2TTL           time.Duration // default 5m
	NegativeTTL     time.Duration // default 5s: how long "not found" is cached
	StaleFor        time.Duration // default 10m: how long past L1TTL a value is kept for stale-if-error
	Jitter          float64       // default 0.1: TTLs vary by ±10% so entries filled together expire apart
	RedisTimeout    time.Duration // default 100ms per Redis call
	BreakerCooldown time.Duration // default 5s: how long L2 is skipped after the breaker opens
	LoadTimeout     time.Duration // default 10s: bounds a shared load, which outlives any one caller
	// AckTimeout bounds how long an invalidation waits for every subscribed
	// instance to confirm it dropped its L1 copy (default 100ms; negative:
	// do not wait, peers catch up within the pub/sub latency). Waiting is
	// what makes "after a write is acknowledged no instance serves the old
	// value" hold; the bound keeps a stuck peer from stalling writes.
	AckTimeout time.Duration
	// L2Enabled switches L2 reads and fills at run time (a feature flag);
	// nil means always on. Invalidations still reach Redis while it is
	// off, so switching it back on cannot resurrect deleted entries.
	L2Enabled func(ctx context.Context) bool
	// LoadContext, when set, prepares the context of every load, given the
	// last time this instance saw an invalidation (of any key or version).
	// With read replicas it demands a replica that has replayed the WAL the
	// primary had then (db.FreshSince): a fill right after a write must not
	// read the old row from a lagging replica and cache it again.
	LoadContext func(ctx context.Context, invalidatedAt time.Time) context.Context
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Namespace == "" {
		return cfg, errors.New("cache: Config.Namespace is required")
	}
	if cfg.L1MaxEntries < 0 || cfg.L1TTL < 0 || cfg.L2TTL < 0 || cfg.RedisTimeout < 0 ||
		cfg.BreakerCooldown < 0 || cfg.LoadTimeout < 0 || cfg.Jitter >= 1 {
		return cfg, fmt.Errorf("cache: invalid config %+v", cfg)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.L1MaxEntries == 0 {
		cfg.L1MaxEntries = 10000
	}
	def(&cfg.L1TTL, 30*time.Second)
	def(&cfg.L2TTL, 5*time.Minute)
	def(&cfg.NegativeTTL, 5*time.Second)
	def(&cfg.StaleFor, 10*time.Minute)
	def(&cfg.RedisTimeout, 100*time.Millisecond)
	def(&cfg.BreakerCooldown, 5*time.Second)
	def(&cfg.LoadTimeout, 10*time.Second)
	def(&cfg.AckTimeout, 100*time.Millisecond)
	if cfg.Jitter == 0 {
		cfg.Jitter = 0.1
	}
	return cfg, nil
}

// jitter spreads d uniformly over ±Jitter so entries filled together (a
// deploy, a burst) do not all expire, and reload, in the same instant.
func (c *Cache) jitter(d time.Duration) time.Duration {
	return jitter(d, c.cfg.Jitter)
}

func jitter(d time.Duration, frac float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	return d + time.Duration((mrand.Float64()*2-1)*frac*float64(d))
}
