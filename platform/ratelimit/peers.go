package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/periodic"
)

// While Redis answers, every instance heartbeats into one sorted set
// (<namespace>:ratelimit:instances, member = instance ID, score = Redis's
// own clock, so instance clocks do not matter) and counts the members seen
// in the last peerTTL. When Redis fails, each instance limits locally to
// its share of the limit under that last count, so N instances together
// still admit about the limit instead of N times it.
//
// The share is rounded down (at least 1): the instances together never
// admit more than the limit, at the price of a little less than the limit
// when it does not divide evenly, and exactly 1 per instance when there
// are more instances than the limit allows requests.

// defaultHeartbeat is how often an instance heartbeats and recounts.
const defaultHeartbeat = 5 * time.Second

// peersTTLRounds heartbeats missed before an instance no longer counts.
const peersTTLRounds = 3

// heartbeat records this instance now, drops members not seen within
// ARGV[2] ms and returns how many remain.
//
// KEYS[1] the set; ARGV instance ID, ttl_ms.
var heartbeat = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
return redis.call('ZCARD', KEYS[1])
`)

// peers tracks the last known number of live instances (at least 1).
type peers struct {
	rdb      redis.UniversalClient
	key, id  string
	every    time.Duration
	timeout  time.Duration
	count    atomic.Int64
	stop     context.CancelFunc
	wg       sync.WaitGroup
	startOne sync.Once
}

func newPeers(rdb redis.UniversalClient, namespace, id string, every, timeout time.Duration) *peers {
	p := &peers{rdb: rdb, key: namespace + ":ratelimit:instances", id: id, every: every, timeout: timeout}
	p.count.Store(1)
	return p
}

// Instances is the last known number of live instances (1 until counted).
func (p *peers) Instances() int { return int(p.count.Load()) }

// beat heartbeats once; on failure the last count stays (Redis being down
// is exactly when it is needed).
func (p *peers) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	n, err := heartbeat.Run(ctx, p.rdb, []string{p.key}, p.id, (peersTTLRounds * p.every).Milliseconds()).Int64()
	if err == nil {
		p.count.Store(max(n, 1))
	}
	return err
}

// start heartbeats at once and then every interval until ctx ends or
// close; leaving removes this instance, so the others recount without it.
func (p *peers) start(ctx context.Context, onErr func(error)) {
	p.startOne.Do(func() {
		ctx, p.stop = context.WithCancel(ctx)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			round := func(ctx context.Context) {
				if err := p.beat(ctx); err != nil && ctx.Err() == nil {
					onErr(err)
				}
			}
			round(ctx)
			periodic.Every(ctx, p.every, round)
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
			defer cancel()
			_ = p.rdb.ZRem(lctx, p.key, p.id).Err() // best effort: else it ages out in the TTL
		}()
	})
}

func (p *peers) close() {
	if p.stop != nil {
		p.stop()
	}
	p.wg.Wait()
}

// share is p with its limit divided among n instances, rounded down, at
// least 1 (see above).
func share(p Policy, n int) Policy {
	if n > 1 {
		p.Limit = max(p.Limit/n, 1)
	}
	return p
}
