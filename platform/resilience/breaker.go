package resilience

import (
	"context"
	"log/slog"
	"time"

	"github.com/sony/gobreaker/v2"
)

// RedisBreaker is the breaker policy in front of Redis (the L2 cache, the
// distributed rate limiter): open after trips consecutive failures so that
// callers fall back to their local level at once instead of waiting on
// timeouts, let one probe through after cooldown while the rest keep
// deciding locally, and ignore failures whose caller went away (callerGone:
// a cancelled request says nothing about Redis). Transitions are logged,
// warn on the way out and info on the way back; at most one happens per
// cooldown, so the log needs no rate limit.
func RedisBreaker(name string, trips uint32, cooldown time.Duration, callerGone func(error) bool, log *slog.Logger) gobreaker.Settings {
	return gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= trips },
		IsExcluded:  callerGone,
		OnStateChange: func(name string, from, to gobreaker.State) {
			lvl := slog.LevelWarn
			if to == gobreaker.StateClosed {
				lvl = slog.LevelInfo
			}
			log.Log(context.Background(), lvl, "redis circuit breaker", "breaker", name, "from", from.String(), "to", to.String())
		},
	}
}
