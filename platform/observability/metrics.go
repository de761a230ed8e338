package observability

import (
	"database/sql"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics owns the process registry. A registry per process (not the global
// default) lets tests run several instances side by side.
type Metrics struct {
	Registry *prometheus.Registry
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

// NewMetrics registers Go runtime, process and HTTP metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by route template, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight", Help: "Requests being served now.",
		}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.duration, m.inflight)
	return m
}

// WatchDB exports the connection pool gauges (open, in use, idle, waits).
func (m *Metrics) WatchDB(db *sql.DB, name string) {
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// DependencyUp exports dependency_up{dependency=name} (1 up, 0 down), so
// every degraded mode is visible in /metrics, not only in /readyz.
func (m *Metrics) DependencyUp(name string, up func() bool) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dependency_up", Help: "1 while the dependency answers, 0 while the service runs degraded without it.",
		ConstLabels: prometheus.Labels{"dependency": name},
	}, func() float64 {
		if up() {
			return 1
		}
		return 0
	}))
}

// Middleware records every request under its route template, so /v1/products/:id
// is one series, not one per product.
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		m.inflight.Inc()
		c.Next()
		m.inflight.Dec()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.duration.WithLabelValues(route, c.Request.Method, statusLabel(c.Writer.Status())).Observe(time.Since(start).Seconds())
	}
}

// statusLabels holds strconv.Itoa of every status from 100 to 599, built
// once: Itoa allocates for numbers above 99, i.e. for every status, on
// every request.
var statusLabels = func() (s [500]string) {
	for i := range s {
		s[i] = strconv.Itoa(100 + i)
	}
	return s
}()

// statusLabel is strconv.Itoa(code), from the table when it covers code.
func statusLabel(code int) string {
	if code >= 100 && code < 100+len(statusLabels) {
		return statusLabels[code-100]
	}
	return strconv.Itoa(code)
}

// Handler serves /metrics.
func (m *Metrics) Handler() gin.HandlerFunc {
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
	return gin.WrapH(h)
}
