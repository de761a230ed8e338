package cache

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// counters are plain atomics: the hot path pays one atomic add, and both
// Stats and the Prometheus collector read the same numbers.
type counters struct {
	l1Hits, l1Misses                      atomic.Uint64
	loadsFound, loadsNotFound, loadErrors atomic.Uint64
	staleServed, pubsubErrors             atomic.Uint64
	ackTimeouts                           atomic.Uint64
}

// Stats is a point-in-time snapshot for an operator console.
type Stats struct {
	L1Hits, L1Misses uint64
	L1Entries        int
	L1MaxEntries     int
	Evictions        uint64 // L1 entries dropped to stay within L1MaxEntries
	L2Hits, L2Misses uint64
	L2Errors         uint64 // failed Redis calls (timeouts, refused, ...)
	L2Skipped        uint64 // Redis calls not attempted: breaker open or half-open
	LoadsFound       uint64
	LoadsNotFound    uint64
	LoadErrors       uint64
	StaleServed      uint64
	PubSubErrors     uint64
	AckTimeouts      uint64 // invalidations some instance did not confirm within AckTimeout
	Breaker          string // "closed", "half-open", "open"; "none" without Redis
	Subscribed       bool   // receiving other instances' invalidations
	PendingRedis     int    // invalidations queued until Redis answers
}

// Stats returns current counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		L1Hits:        c.st.l1Hits.Load(),
		L1Misses:      c.st.l1Misses.Load(),
		L1Entries:     c.l1.len(),
		L1MaxEntries:  c.cfg.L1MaxEntries,
		Evictions:     c.l1.evictions.Load(),
		LoadsFound:    c.st.loadsFound.Load(),
		LoadsNotFound: c.st.loadsNotFound.Load(),
		LoadErrors:    c.st.loadErrors.Load(),
		StaleServed:   c.st.staleServed.Load(),
		PubSubErrors:  c.st.pubsubErrors.Load(),
		AckTimeouts:   c.st.ackTimeouts.Load(),
		Breaker:       "none",
		Subscribed:    c.subscribed.Load(),
		PendingRedis:  int(c.pend.n.Load()) + len(c.vers.failedBumps()),
	}
	if c.l2 != nil {
		s.L2Hits, s.L2Misses = c.l2.hits.Load(), c.l2.misses.Load()
		s.L2Errors, s.L2Skipped = c.l2.fails.Load(), c.l2.skipped.Load()
		s.Breaker = c.l2.state().String()
	}
	return s
}

// collector exposes Stats as Prometheus metrics. Every metric carries the
// constant label cache=<Namespace>, so several Caches can share a registry.
type collector struct {
	c                                  *Cache
	requests, errors, loads, evictions *prometheus.Desc
	entries, stale, breaker, skipped   *prometheus.Desc
	subscribed, pending                *prometheus.Desc
}

func newCollector(c *Cache) *collector {
	labels := prometheus.Labels{"cache": c.cfg.Namespace}
	d := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc("cache_"+name, help, vars, labels)
	}
	return &collector{
		c:          c,
		requests:   d("requests_total", "Cache lookups by level and outcome.", "level", "result"),
		errors:     d("errors_total", "Failed Redis calls (level l2), subscription failures (level pubsub), invalidations not confirmed by every instance in time (level ack_timeout).", "level"),
		loads:      d("loads_total", "Loads from the source of truth by outcome.", "result"),
		evictions:  d("evictions_total", "L1 entries evicted to stay within L1MaxEntries."),
		entries:    d("l1_entries", "Entries held in L1, including ones kept for stale-if-error."),
		stale:      d("stale_served_total", "Expired values served because the load failed."),
		breaker:    d("l2_breaker_state", "Redis circuit breaker: 0 closed, 1 half-open, 2 open."),
		skipped:    d("l2_skipped_total", "Redis calls not attempted because the breaker was not closed."),
		subscribed: d("subscribed", "1 while receiving other instances' invalidations."),
		pending:    d("pending_invalidations", "Invalidations queued until Redis answers again."),
	}
}

func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.requests, m.errors, m.loads, m.evictions, m.entries,
		m.stale, m.breaker, m.skipped, m.subscribed, m.pending} {
		ch <- d
	}
}

func (m *collector) Collect(ch chan<- prometheus.Metric) {
	s := m.c.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(m.requests, s.L1Hits, "l1", "hit")
	counter(m.requests, s.L1Misses, "l1", "miss")
	counter(m.requests, s.L2Hits, "l2", "hit")
	counter(m.requests, s.L2Misses, "l2", "miss")
	counter(m.errors, s.L2Errors, "l2")
	counter(m.errors, s.PubSubErrors, "pubsub")
	counter(m.errors, s.AckTimeouts, "ack_timeout")
	counter(m.loads, s.LoadsFound, "found")
	counter(m.loads, s.LoadsNotFound, "not_found")
	counter(m.loads, s.LoadErrors, "error")
	counter(m.evictions, s.Evictions)
	counter(m.stale, s.StaleServed)
	counter(m.skipped, s.L2Skipped)
	gauge(m.entries, float64(s.L1Entries))
	gauge(m.pending, float64(s.PendingRedis))
	sub := 0.0
	if s.Subscribed {
		sub = 1
	}
	gauge(m.subscribed, sub)
	state := 0.0 // no Redis reads as closed: nothing is being skipped
	if m.c.l2 != nil {
		switch m.c.l2.state() {
		case gobreaker.StateHalfOpen:
			state = 1
		case gobreaker.StateOpen:
			state = 2
		}
	}
	gauge(m.breaker, state)
}
