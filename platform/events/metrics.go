package events

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	appended   *prometheus.CounterVec // type
	published  *prometheus.CounterVec // transport
	pending    prometheus.Gauge
	deliveries *prometheus.CounterVec // consumer, result
	dead       prometheus.Gauge
	up         *prometheus.GaugeVec // transport
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "events_appended_total", Help: "Events committed to the outbox, by type.",
		}, []string{"type"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "events_published_total", Help: "Outbox events handed to a transport (inprocess: fanned out to deliveries; jetstream: acknowledged by the stream).",
		}, []string{"transport"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "events_outbox_pending", Help: "Outbox events not yet published (refreshed every few seconds).",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "events_deliveries_total", Help: "Handler runs by consumer and result (ok, retry, dead).",
		}, []string{"consumer", "result"}),
		dead: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "events_dead_letters", Help: "Dead letters not yet replayed (refreshed every few seconds).",
		}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "events_transport_up", Help: "1 when the event transport is usable (always 1 in-process).",
		}, []string{"transport"}),
	}
	if reg == nil {
		return m, nil
	}
	// A second Bus on the same registry (tests, a restart inside one
	// process) shares the already registered collectors.
	var err error
	if m.appended, err = register(reg, m.appended); err != nil {
		return nil, err
	}
	if m.published, err = register(reg, m.published); err != nil {
		return nil, err
	}
	if m.pending, err = register(reg, m.pending); err != nil {
		return nil, err
	}
	if m.deliveries, err = register(reg, m.deliveries); err != nil {
		return nil, err
	}
	if m.dead, err = register(reg, m.dead); err != nil {
		return nil, err
	}
	if m.up, err = register(reg, m.up); err != nil {
		return nil, err
	}
	return m, nil
}

func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// refreshGauges recounts the pending outbox and open dead letters. Counting
// is cheap (partial indexes) and keeps the gauges right across instances.
func (b *Bus) refreshGauges(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var pending, dead int64
	if err := b.cfg.DB.WithContext(ctx).Model(&outboxRow{}).Where("published_at IS NULL").Count(&pending).Error; err == nil {
		b.m.pending.Set(float64(pending))
	}
	if err := b.cfg.DB.WithContext(ctx).Model(&deadLetterRow{}).Where("replayed_at IS NULL").Count(&dead).Error; err == nil {
		b.m.dead.Set(float64(dead))
	}
}

// logLimiter lets one message per key through per interval, so a broker or
// database outage logs a line every 30s instead of ten a second.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
	muted map[string]int
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, last: map[string]time.Time{}, muted: map[string]int{}}
}

// allow reports whether to log now, and how many were suppressed since.
func (l *logLimiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := time.Now()
	if t.Sub(l.last[key]) < l.every {
		l.muted[key]++
		return false, 0
	}
	n := l.muted[key]
	l.last[key], l.muted[key] = t, 0
	return true, n
}

// warn logs a repeated failure at most once per interval per key.
func (b *Bus) warn(key, msg string, args ...any) {
	if ok, n := b.limit.allow(key); ok {
		if n > 0 {
			args = append(args, "suppressed", n)
		}
		b.log.Warn(msg, args...)
	}
}
