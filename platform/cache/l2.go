package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sony/gobreaker/v2"

	"example.com/productapi/platform/resilience"
)

// ErrL2Unavailable wraps the error Invalidate, BumpVersion and friends return
// when Redis could not be told. The local change is done and the Redis side
// is queued and retried in the background; callers log it, nothing more.
var ErrL2Unavailable = errors.New("cache: redis unavailable")

// errCallerGone marks a call the caller abandoned: it says nothing about
// Redis's health, so the breaker ignores it.
var errCallerGone = errors.New("cache: caller gone")

// breakerTrips is how many consecutive failures open the breaker: enough to
// ride out one slow reply, few enough that a dead Redis costs at most a
// handful of RedisTimeouts before every call skips L2.
const breakerTrips = 5

// NewRedisClient parses a redis:// URL and tightens go-redis's defaults,
// which make a dead Redis cost about 1.7s per call (5s timeouts, 3 command
// retries, 5 dial attempts). Timeouts the URL sets itself
// (?dial_timeout=...) are kept. The per-call budget is enforced again by the
// Cache (Config.RedisTimeout), this bounds the socket level.
// RedisLogger adapts go-redis's process-wide logger to slog (debug level).
// go-redis prints every failed dial to stderr with the standard logger;
// during an outage that floods the logs with unstructured lines while the
// breaker already reports the state. main installs it with redis.SetLogger.
type RedisLogger struct{}

func (RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

func NewRedisClient(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	orDefault := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	orDefault(&opt.DialTimeout, 200*time.Millisecond)
	orDefault(&opt.ReadTimeout, 200*time.Millisecond)
	orDefault(&opt.WriteTimeout, 200*time.Millisecond)
	orDefault(&opt.PoolTimeout, 200*time.Millisecond)
	orDefault(&opt.DialerRetryTimeout, 10*time.Millisecond)
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1 // one retry covers a pooled connection Redis closed (restart, idle timeout)
	}
	if opt.DialerRetries == 0 {
		opt.DialerRetries = 1 // one attempt: the breaker, not the dialer, decides when to try again
	}
	opt.ContextTimeoutEnabled = true // honour the per-call context deadline
	if opt.MaintNotificationsConfig == nil {
		// Auto mode sends an extra handshake command per connection to a
		// server that (self-hosted) never sends maintenance notifications.
		opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	}
	return redis.NewClient(opt), nil
}

// l2 is Redis behind a circuit breaker. Every call has a timeout; failures
// are counted and logged (rate limited) and come back as errors wrapping
// ErrL2Unavailable, which the Cache treats as "skip L2", never as a failure.
type l2 struct {
	rdb     redis.UniversalClient
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	timeout time.Duration
	errLog  *rateLog

	hits, misses, fails, skipped atomic.Uint64
}

func newL2(rdb redis.UniversalClient, timeout, cooldown time.Duration, log *slog.Logger) *l2 {
	l := &l2{rdb: rdb, timeout: timeout, errLog: newRateLog(log, 10*time.Second)}
	l.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](resilience.RedisBreaker("cache-l2", breakerTrips, cooldown,
		func(err error) bool { return errors.Is(err, errCallerGone) }, log))
	return l
}

// do runs fn through the breaker with the per-call timeout. redis.Nil is a
// success (a miss), not an error.
func (l *l2) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	done, err := l.cb.Allow()
	if err != nil {
		l.skipped.Add(1)
		return fmt.Errorf("%w: %s: %w", ErrL2Unavailable, op, err)
	}
	opCtx, cancel := context.WithTimeout(ctx, l.timeout)
	err = fn(opCtx)
	cancel()
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		done(nil)
		return err
	case ctx.Err() != nil:
		done(errCallerGone)
		return fmt.Errorf("%w: %s: %w", ErrL2Unavailable, op, err)
	}
	done(err)
	l.fails.Add(1)
	l.errLog.warn("redis call failed; serving without L2", "op", op, "err", err)
	return fmt.Errorf("%w: %s: %w", ErrL2Unavailable, op, err)
}

// get returns redis.Nil on a miss and an ErrL2Unavailable error when Redis
// failed or was skipped.
func (l *l2) get(ctx context.Context, key string) ([]byte, error) {
	var b []byte
	err := l.do(ctx, "get", func(ctx context.Context) (err error) {
		b, err = l.rdb.Get(ctx, key).Bytes()
		return err
	})
	switch {
	case err == nil:
		l.hits.Add(1)
	case errors.Is(err, redis.Nil):
		l.misses.Add(1)
	}
	return b, err
}

func (l *l2) set(ctx context.Context, key string, payload []byte, ttl time.Duration) error {
	return l.do(ctx, "set", func(ctx context.Context) error {
		return l.rdb.Set(ctx, key, payload, ttl).Err()
	})
}

// writeAndPublish deletes keys (payload nil) or sets the single key, then
// publishes msg, in one round trip: peers are told in the same breath as
// Redis changes, before the caller's write is acknowledged.
// writeAndPublish sets or deletes keys and publishes msg in one round trip;
// it returns how many subscribers received msg.
func (l *l2) writeAndPublish(ctx context.Context, keys []string, payload []byte, ttl time.Duration, channel string, msg []byte) (int64, error) {
	var receivers int64
	err := l.do(ctx, "publish", func(ctx context.Context) error {
		var pub *redis.IntCmd
		_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			if payload != nil {
				p.Set(ctx, keys[0], payload, ttl)
			} else if len(keys) > 0 {
				p.Del(ctx, keys...)
			}
			pub = p.Publish(ctx, channel, msg)
			return nil
		})
		receivers = pub.Val()
		return err
	})
	return receivers, err
}

// pushAck confirms an invalidation; the list expires on its own.
func (l *l2) pushAck(ctx context.Context, key string, keep time.Duration) {
	_ = l.do(ctx, "ack", func(ctx context.Context) error {
		_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.RPush(ctx, key, 1)
			p.PExpire(ctx, key, 2*keep+time.Second)
			return nil
		})
		return err
	})
}

// popAck waits up to wait for one confirmation. It bypasses the breaker's
// per-call timeout (BLPOP blocks by design) but not the breaker itself.
func (l *l2) popAck(ctx context.Context, key string, wait time.Duration) bool {
	if l.cb.State() == gobreaker.StateOpen {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, wait+l.timeout)
	defer cancel()
	// A fractional timeout in seconds (Redis >= 6); go-redis's BLPop
	// rounds anything under a second up to a whole one.
	err := l.rdb.Do(wctx, "blpop", key, strconv.FormatFloat(wait.Seconds(), 'f', 3, 64)).Err()
	return err == nil
}

func (l *l2) getInt(ctx context.Context, key string) (int64, error) {
	var n int64
	err := l.do(ctx, "get", func(ctx context.Context) (err error) {
		n, err = l.rdb.Get(ctx, key).Int64()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

func (l *l2) incrBy(ctx context.Context, key string, by int64) (int64, error) {
	var n int64
	err := l.do(ctx, "incr", func(ctx context.Context) (err error) {
		n, err = l.rdb.IncrBy(ctx, key, by).Result()
		return err
	})
	return n, err
}

func (l *l2) publish(ctx context.Context, channel string, msg []byte) (int64, error) {
	var receivers int64
	err := l.do(ctx, "publish", func(ctx context.Context) (err error) {
		receivers, err = l.rdb.Publish(ctx, channel, msg).Result()
		return err
	})
	return receivers, err
}

func (l *l2) ping(ctx context.Context) error {
	return l.do(ctx, "ping", func(ctx context.Context) error { return l.rdb.Ping(ctx).Err() })
}

// deleteMatching removes every key matching pattern, in SCAN batches so no
// single call blocks Redis or outlives the per-call timeout.
func (l *l2) deleteMatching(ctx context.Context, pattern string) error {
	var cursor uint64
	for {
		var keys []string
		err := l.do(ctx, "scan", func(ctx context.Context) (err error) {
			keys, cursor, err = l.rdb.Scan(ctx, cursor, pattern, 500).Result()
			if err == nil && len(keys) > 0 {
				err = l.rdb.Unlink(ctx, keys...).Err()
			}
			return err
		})
		if err != nil || cursor == 0 {
			return err
		}
	}
}

func (l *l2) state() gobreaker.State { return l.cb.State() }

// L2 values carry a one-byte format tag and the load time, so an L2 hit
// reports the value's real age and a "not found" can be cached too. An
// unknown tag reads as a miss, so a future format cannot break old readers.
const (
	tagFound    byte = 1
	tagNotFound byte = 2
	headerLen        = 9
)

func encodeL2(value []byte, found bool, loadedAt int64) []byte {
	b := make([]byte, headerLen+len(value))
	b[0] = tagNotFound
	if found {
		b[0] = tagFound
		copy(b[headerLen:], value)
	}
	binary.BigEndian.PutUint64(b[1:headerLen], uint64(loadedAt))
	return b
}

func decodeL2(b []byte) (value []byte, found bool, loadedAt int64, ok bool) {
	if len(b) < headerLen || (b[0] != tagFound && b[0] != tagNotFound) {
		return nil, false, 0, false
	}
	loadedAt = int64(binary.BigEndian.Uint64(b[1:headerLen]))
	if b[0] == tagNotFound {
		return nil, false, loadedAt, true
	}
	return b[headerLen:], true, loadedAt, true
}

// rateLog logs at most once per interval and reports how many it swallowed,
// so a dead dependency shows up in logs without flooding them.
type rateLog struct {
	log        *slog.Logger
	every      int64
	last       atomic.Int64
	suppressed atomic.Uint64
}

func newRateLog(log *slog.Logger, every time.Duration) *rateLog {
	return &rateLog{log: log, every: int64(every)}
}

func (r *rateLog) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := r.last.Load()
	if now-last < r.every || !r.last.CompareAndSwap(last, now) {
		r.suppressed.Add(1)
		return
	}
	r.log.Warn(msg, append(args, "suppressed_since_last", r.suppressed.Swap(0))...)
}
