package app

import (
	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/consistency"
	"example.com/productapi/platform/health"
)

// startReplicas exports the replicas' metrics, starts their health and lag
// checker and adds the non-critical "replicas" readiness check (reads fall
// back to the primary while none is usable). No replicas: nothing to do.
func (a *App) startReplicas() error {
	rs := a.db.Replicas
	if rs == nil {
		return nil
	}
	if err := rs.Register(a.metrics.Registry); err != nil {
		return err
	}
	go rs.Run(a.life)
	a.health.Add(health.Check{Name: "replicas", Run: rs.Health})
	return nil
}

// readRouting is the per-request read routing (read-your-own-writes),
// mounted after authentication; without replicas every read is on the
// primary and it is not needed.
func (a *App) readRouting() []gin.HandlerFunc {
	if a.db.Replicas == nil {
		return nil
	}
	var healthy func() bool
	if a.cache != nil {
		healthy = a.cache.L2Healthy
	}
	t := consistency.New(consistency.Options{Window: a.cfg.Database.ReadYourWritesWindow, Redis: a.redis,
		Namespace: a.cfg.Cache.Namespace, RedisHealthy: healthy, Log: a.log.With("component", "consistency")})
	return []gin.HandlerFunc{t.Middleware()}
}
