package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// slidingLog is the Redis sliding-window log: one sorted set per key, the
// members' scores the admission times in microseconds. Trim what left the
// window (now-W, now], admit when fewer than limit remain, report the
// count and how long until the oldest admission leaves. One script, so
// concurrent instances cannot both take the last unit.
//
// KEYS[1] the key; ARGV now_us, window_us, limit, member.
var slidingLog = redis.NewScript(`
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  count = count + 1
  allowed = 1
end
local reset = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  reset = tonumber(oldest[2]) + window - now
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
end
return {allowed, count, reset}
`)

// Redis is the shared sliding-window log. It has no fallback of its own:
// Limiter puts a breaker and the local log around it.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
	// member makes every admission unique within the sorted set even when
	// two instances admit in the same microsecond.
	member string
	seq    atomic.Uint64
}

// NewRedis builds the Redis limiter; keys are "<namespace>:ratelimit:...".
// now nil means time.Now (instances must keep their clocks in sync, as
// NTP does; a skew of s lets a client gain at most s worth of quota).
func NewRedis(rdb redis.UniversalClient, namespace string, now func() time.Time) *Redis {
	if now == nil {
		now = time.Now
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Redis{rdb: rdb, prefix: namespace + ":ratelimit:", now: now, member: hex.EncodeToString(b[:])}
}

// Allow runs one admission in Redis.
func (r *Redis) Allow(ctx context.Context, key string, p Policy) (Decision, error) {
	now := r.now().UnixMicro()
	window := p.Window.Microseconds()
	member := strconv.FormatInt(now, 36) + "-" + r.member + "-" + strconv.FormatUint(r.seq.Add(1), 36)
	res, err := slidingLog.Run(ctx, r.rdb, []string{r.prefix + p.Name + ":" + key}, now, window, p.Limit, member).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 3 {
		return Decision{}, errors.New("ratelimit: unexpected script reply")
	}
	return Decision{
		Allowed:   res[0] == 1,
		Remaining: max(p.Limit-int(res[1]), 0),
		Reset:     time.Duration(res[2]) * time.Microsecond,
	}, nil
}

// Clear drops every key of the namespace (tests).
func (r *Redis) Clear(ctx context.Context) error {
	iter := r.rdb.Scan(ctx, 0, r.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		if err := r.rdb.Del(ctx, iter.Val()).Err(); err != nil {
			return fmt.Errorf("ratelimit clear: %w", err)
		}
	}
	return iter.Err()
}
