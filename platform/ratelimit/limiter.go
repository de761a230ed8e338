package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/resilience"
)

// ErrLimited is the 429 a refused request gets (with Retry-After).
var ErrLimited = apperr.New(apperr.KindTooManyRequests, "rate_limited", "too many requests; retry after the Retry-After delay")

// Options configure a Limiter.
type Options struct {
	// Disabled turns the middleware into a pass-through (config switch).
	Disabled bool
	// Policies by group (GroupAuth, GroupCatalogue, ...). A group
	// without a policy is not limited.
	Policies map[string]Policy
	// Enabled is read per request (the runtime feature flag); nil = on.
	Enabled func(ctx context.Context) bool
	// Redis, when set, shares the limit between instances.
	Redis     redis.UniversalClient
	Namespace string
	// RedisTimeout bounds one Redis decision (default 50ms); beyond it the
	// request is decided locally.
	RedisTimeout time.Duration
	// Cooldown is how long the breaker stays open before probing Redis
	// again (default 2s).
	Cooldown time.Duration
	// Heartbeat is how often an instance records itself in Redis and
	// recounts the live instances, whose number divides the limit while
	// Redis is down (default 5s; an instance silent for 3 rounds no longer
	// counts). Only with Redis and after Start.
	Heartbeat time.Duration
	// Now is the clock (tests); nil = time.Now.
	Now        func() time.Time
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// breakerTrips consecutive Redis failures open the breaker.
const breakerTrips = 3

// errCallerGone marks a decision the caller abandoned: not Redis's fault.
var errCallerGone = errors.New("ratelimit: caller gone")

// Limiter decides admissions: in Redis when configured and healthy, in
// process otherwise.
type Limiter struct {
	opts Options
	// groups holds each group's policy with its RateLimit-Policy value,
	// built once in New: policies are fixed for the limiter's life.
	groups   map[string]groupPolicy
	local    *Local
	remote   *Redis
	cb       *gobreaker.CircuitBreaker[Decision]
	log      *slog.Logger
	fallback atomic.Uint64
	peers    *peers // nil without Redis
	outcomes *prometheus.CounterVec
}

// New builds a limiter and registers its metrics.
func New(o Options) *Limiter {
	if o.RedisTimeout <= 0 {
		o.RedisTimeout = 50 * time.Millisecond
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = defaultHeartbeat
	}
	l := &Limiter{opts: o, local: NewLocal(o.Now), log: o.Log, groups: make(map[string]groupPolicy, len(o.Policies))}
	for g, p := range o.Policies {
		l.groups[g] = groupPolicy{policy: p, header: PolicyHeader(p)}
	}
	if o.Redis != nil {
		l.remote = NewRedis(o.Redis, o.Namespace, o.Now)
		l.cb = gobreaker.NewCircuitBreaker[Decision](resilience.RedisBreaker("ratelimit-redis", breakerTrips, o.Cooldown,
			func(err error) bool { return errors.Is(err, errCallerGone) }, o.Log))
		l.peers = newPeers(o.Redis, o.Namespace, l.remote.member, o.Heartbeat, max(o.RedisTimeout, time.Second))
	}
	l.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ratelimit_decisions_total", Help: "Rate limit decisions by route group and outcome (allowed, limited).",
	}, []string{"group", "outcome"})
	if o.Registerer != nil {
		o.Registerer.MustRegister(l.outcomes)
		for _, mode := range []string{"redis", "local"} {
			mode := mode
			o.Registerer.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "ratelimit_backend", Help: "1 for the backend deciding rate limits now: redis (shared by every instance) or local (in process, Redis absent or failing).",
				ConstLabels: prometheus.Labels{"mode": mode},
			}, func() float64 {
				if l.Mode() == mode {
					return 1
				}
				return 0
			}))
		}
		o.Registerer.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ratelimit_instances", Help: "Live instances last counted in Redis (1 without Redis); while Redis is down each instance admits limit / this.",
		}, func() float64 { return float64(l.Instances()) }))
		o.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ratelimit_local_fallbacks_total", Help: "Decisions taken locally because Redis failed or its breaker was open.",
		}, func() float64 { return float64(l.fallback.Load()) }))
	}
	return l
}

// Start heartbeats this instance into Redis until ctx ends or Close, so
// every instance knows how many share the limit when Redis goes away.
// Without Redis it does nothing. Give it the application's lifetime: a
// draining instance still limits.
func (l *Limiter) Start(ctx context.Context) {
	if l.peers == nil {
		return
	}
	l.peers.start(ctx, func(err error) {
		l.log.DebugContext(ctx, "rate limit heartbeat failed; keeping the last instance count", "err", err, "instances", l.peers.Instances())
	})
}

// Close stops the heartbeat and leaves the instance count.
func (l *Limiter) Close() {
	if l.peers != nil {
		l.peers.close()
	}
}

// Instances is the last known number of live instances sharing the limit
// (1 without Redis or before the first heartbeat).
func (l *Limiter) Instances() int {
	if l.peers == nil {
		return 1
	}
	return l.peers.Instances()
}

// localPolicy is what the local log enforces for p: with Redis configured
// (and so failing, when this is asked) only this instance's share of the
// limit, since every other instance admits its own share too.
func (l *Limiter) localPolicy(p Policy) Policy {
	if l.peers == nil {
		return p
	}
	return share(p, l.peers.Instances())
}

// Mode is "redis" while Redis decides, "local" otherwise.
func (l *Limiter) Mode() string {
	if l.cb != nil && l.cb.State() == gobreaker.StateClosed {
		return "redis"
	}
	return "local"
}

// Health is the /readyz check: an error while Redis is configured but the
// limiter decides locally (limits then hold per instance only). Once the
// breaker lets a probe through, Health pings Redis itself, so an idle
// instance also finds its way back to the shared limit.
func (l *Limiter) Health(ctx context.Context) error {
	if l.cb == nil || l.cb.State() == gobreaker.StateClosed {
		return nil
	}
	if l.cb.State() == gobreaker.StateHalfOpen {
		_, _ = l.cb.Execute(func() (Decision, error) {
			pctx, cancel := context.WithTimeout(ctx, l.opts.RedisTimeout)
			defer cancel()
			return Decision{}, l.remote.rdb.Ping(pctx).Err()
		})
	}
	if st := l.cb.State(); st != gobreaker.StateClosed {
		return fmt.Errorf("redis breaker %s: limiting per instance", st)
	}
	return nil
}

// Policy returns the policy of a group.
func (l *Limiter) Policy(group string) (Policy, bool) {
	g, ok := l.groups[group]
	return g.policy, ok
}

// Allow decides one request of key in group under p: Redis first when
// configured, the local log when Redis fails or its breaker is open.
func (l *Limiter) Allow(ctx context.Context, key string, p Policy) Decision {
	if l.remote != nil {
		d, err := l.cb.Execute(func() (Decision, error) {
			rctx, cancel := context.WithTimeout(ctx, l.opts.RedisTimeout)
			defer cancel()
			d, err := l.remote.Allow(rctx, key, p)
			if err != nil && ctx.Err() != nil {
				return d, errCallerGone
			}
			return d, err
		})
		if err == nil {
			return d
		}
		l.fallback.Add(1)
		if !errors.Is(err, gobreaker.ErrOpenState) && !errors.Is(err, gobreaker.ErrTooManyRequests) && !errors.Is(err, errCallerGone) {
			l.log.DebugContext(ctx, "rate limit decided locally", "err", err)
		}
		p = l.localPolicy(p)
	}
	return l.local.Allow(key, p)
}

type groupPolicy struct {
	policy Policy
	header string // PolicyHeader(policy)
}

// The header keys as Header.Set stores them ("Ratelimit-Policy",
// "Ratelimit"), canonicalized once: canonicalizing a key that is not
// already canonical allocates on every Set.
var (
	policyHeaderKey = textproto.CanonicalMIMEHeaderKey("RateLimit-Policy")
	stateHeaderKey  = textproto.CanonicalMIMEHeaderKey("RateLimit")
)

// Middleware limits each route in the group that groupOf returns for it (""
// is GroupDefault; ok=false: not limited), the group the route declared
// where it was registered (routemeta.Table.RateGroup). Mount it after
// authentication (it keys by the caller) and after flagshttp.Middleware (the
// runtime flag needs its evaluation context).
func (l *Limiter) Middleware(groupOf func(*gin.Context) (string, bool)) gin.HandlerFunc {
	if l.opts.Disabled {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		group, ok := groupOf(c)
		if !ok {
			c.Next()
			return
		}
		if group == "" {
			group = GroupDefault
		}
		g, ok := l.groups[group]
		if !ok || (l.opts.Enabled != nil && !l.opts.Enabled(c.Request.Context())) {
			c.Next()
			return
		}
		var key string
		if who, ok := auth.Caller(c); ok {
			key = UserKey(who.UserID)
		} else {
			key = IPKey(httpx.ClientIP(c)) // resolved once per request by httpx.Base
		}
		d := l.Allow(c.Request.Context(), key, g.policy)
		httpx.SetCanonical(c.Writer.Header(), policyHeaderKey, g.header, stateHeaderKey, StateHeader(g.policy, d))
		if !d.Allowed {
			l.outcomes.WithLabelValues(group, "limited").Inc()
			httpx.Error(c, ErrLimited.WithRetryAfter(max(d.Reset, time.Second)))
			return
		}
		l.outcomes.WithLabelValues(group, "allowed").Inc()
		c.Next()
	}
}
