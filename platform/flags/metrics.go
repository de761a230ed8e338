package flags

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	evaluations *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	lastRefresh prometheus.Gauge
	errors      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flag_evaluations_total",
			Help: "Flag evaluations by flag, variant and reason (unknown keys are counted under key=\"_unknown\")."},
			[]string{"key", "variant", "reason"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flags_refresh_total",
			Help: "Snapshot reloads by trigger: pubsub (a notice from another instance), poll (the table fingerprint moved), local (this instance wrote), manual."},
			[]string{"source"}),
		lastRefresh: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flags_last_refresh_timestamp",
			Help: "Unix time the in-memory flags were last confirmed current with the database (reload or unchanged poll)."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flags_refresh_errors_total",
			Help: "Failed polls, subscriptions and publishes; the last snapshot keeps serving."}),
	}
	if reg != nil {
		reg.MustRegister(m.evaluations, m.refreshes, m.lastRefresh, m.errors)
	}
	return m
}

func (m *metrics) observe(r Result) {
	key := r.Key
	if r.ErrorCode == "FLAG_NOT_FOUND" {
		key = "_unknown" // never a label per client-chosen key
	}
	m.evaluations.WithLabelValues(key, r.Variant, string(r.Reason)).Inc()
}

func (m *metrics) refreshed(source string) {
	if source != "" {
		m.refreshes.WithLabelValues(source).Inc()
	}
	m.confirmed()
}

func (m *metrics) confirmed() { m.lastRefresh.Set(float64(time.Now().Unix())) }
