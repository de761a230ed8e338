package resilience

import (
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/httpx"
)

// ErrOverloaded is the 503 a shed request gets; clients back off a second.
var ErrOverloaded = apperr.Unavailable("overloaded", "the service is at capacity; retry shortly", time.Second)

// Middleware admits requests through l. Routes for which classify returns
// ok=false (health, metrics) bypass the limit: an orchestrator must be able
// to ask an overloaded instance how it is.
func (l *Limiter) Middleware(classify func(c *gin.Context) (Class, bool)) gin.HandlerFunc {
	return func(c *gin.Context) {
		class, limited := classify(c)
		if !limited {
			c.Next()
			return
		}
		if !l.Acquire(class) {
			httpx.Error(c, ErrOverloaded)
			return
		}
		start := time.Now()
		defer func() { l.Release(time.Since(start)) }()
		c.Next()
	}
}

// Register exports the limit, in-flight count and shed counters.
func (l *Limiter) Register(reg prometheus.Registerer) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "concurrency_limit", Help: "Adaptive concurrency limit."},
			func() float64 { return float64(l.limit.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "concurrency_in_flight", Help: "Requests admitted and not finished."},
			func() float64 { return float64(l.inflight.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "requests_shed_total", Help: "Requests refused with 503 because of overload.",
			ConstLabels: prometheus.Labels{"class": "critical"}}, func() float64 { return float64(l.shed[Critical].Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "requests_shed_total", Help: "Requests refused with 503 because of overload.",
			ConstLabels: prometheus.Labels{"class": "sheddable"}}, func() float64 { return float64(l.shed[Sheddable].Load()) }),
	)
}
