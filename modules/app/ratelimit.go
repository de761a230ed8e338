package app

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/flags"
	"example.com/productapi/platform/ratelimit"
)

// newRateLimiter builds the per-route-group limiter from the ratelimit
// config: shared through Redis when it is configured, in process otherwise,
// switched at runtime by the ratelimit.enabled flag.
func newRateLimiter(cfg config.Config, rdb redis.UniversalClient, fl *flags.Flags, reg prometheus.Registerer, log *slog.Logger) *ratelimit.Limiter {
	g := cfg.RateLimit.Groups
	policy := func(name string, c config.RateLimitGroup) ratelimit.Policy {
		return ratelimit.Policy{Name: name, Limit: c.Limit, Window: c.Window}
	}
	return ratelimit.New(ratelimit.Options{
		Disabled: !cfg.RateLimit.Enabled,
		Policies: map[string]ratelimit.Policy{
			ratelimit.GroupAuth:      policy(ratelimit.GroupAuth, g.Auth),
			ratelimit.GroupCatalogue: policy(ratelimit.GroupCatalogue, g.Catalogue),
			ratelimit.GroupDefault:   policy(ratelimit.GroupDefault, g.Default),
			ratelimit.GroupConsole:   policy(ratelimit.GroupConsole, g.Console),
		},
		Enabled:      func(ctx context.Context) bool { return fl.Enabled(ctx, flags.RateLimitEnabled) },
		Redis:        rdb,
		Namespace:    cfg.Cache.Namespace,
		RedisTimeout: cfg.RateLimit.RedisTimeout,
		Heartbeat:    cfg.RateLimit.InstanceHeartbeat,
		Registerer:   reg,
		Log:          log.With("component", "ratelimit"),
	})
}
