// Package resilience protects the process from overload: an adaptive
// concurrency limit in front of the handlers that sheds non-critical work
// first. The limit follows the latency the service actually delivers
// (the gradient idea of Netflix's concurrency-limits: while latency stays
// near the best seen, allow more requests in flight; when it grows, queueing
// is happening and the limit shrinks), so nobody has to guess a capacity
// that changes with the machine, the data and the cache hit rate.
package resilience

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Class orders requests by what may be dropped first.
type Class int

const (
	// Critical work (single-product reads, checkout, auth) is refused only
	// at the full limit.
	Critical Class = iota
	// Sheddable work (search, lists) is refused once in-flight requests
	// reach SheddableShare of the limit, keeping headroom for critical work.
	Sheddable
)

// LimiterConfig tunes the limit; zero values take the defaults noted.
type LimiterConfig struct {
	Initial, Min, Max int           // default 64, 8, 1024
	SheddableShare    float64       // default 0.7
	Tolerance         float64       // default 2: latency up to 2x the long-run average is not queueing
	Window            time.Duration // default 250ms: how often the limit is recomputed
	// BaselineDecay is how fast (per window) the long-run latency follows the
	// recent one, so a lasting change (bigger data, colder cache) becomes the
	// new normal while a sudden queue stands out.
	BaselineDecay float64 // default 0.05
}

func (c LimiterConfig) withDefaults() LimiterConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Initial, 64)
	def(&c.Min, 8)
	def(&c.Max, 1024)
	if c.SheddableShare <= 0 || c.SheddableShare > 1 {
		c.SheddableShare = 0.7
	}
	if c.Tolerance < 1 {
		c.Tolerance = 2
	}
	if c.Window <= 0 {
		c.Window = 250 * time.Millisecond
	}
	if c.BaselineDecay <= 0 {
		c.BaselineDecay = 0.05
	}
	return c
}

// Limiter is an adaptive concurrency limit. Safe for concurrent use.
type Limiter struct {
	cfg      LimiterConfig
	inflight atomic.Int64
	limit    atomic.Int64
	shed     [2]atomic.Uint64

	mu          sync.Mutex
	windowStart time.Time
	sum         time.Duration
	n           int
	peak        int64   // most requests in flight seen this window
	longRTT     float64 // slow moving average of window latencies, seconds: "normal" for this traffic mix
	now         func() time.Time
}

// NewLimiter starts at cfg.Initial.
func NewLimiter(cfg LimiterConfig) *Limiter {
	cfg = cfg.withDefaults()
	l := &Limiter{cfg: cfg, now: time.Now}
	l.limit.Store(int64(cfg.Initial))
	l.windowStart = l.now()
	return l
}

// Acquire admits a request of class c or reports false (shed it). A true
// return must be paired with exactly one Release.
func (l *Limiter) Acquire(c Class) bool {
	limit := l.limit.Load()
	allowed := limit
	if c == Sheddable {
		allowed = int64(math.Max(1, math.Floor(float64(limit)*l.cfg.SheddableShare)))
	}
	if l.inflight.Add(1) > allowed {
		l.inflight.Add(-1)
		l.shed[c].Add(1)
		return false
	}
	return true
}

// Release ends an admitted request and feeds its latency to the limit.
func (l *Limiter) Release(latency time.Duration) {
	l.inflight.Add(-1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum += latency
	l.n++
	l.peak = max(l.peak, l.inflight.Load()+1)
	if now := l.now(); now.Sub(l.windowStart) >= l.cfg.Window && l.n >= 10 {
		l.adjust(l.sum.Seconds() / float64(l.n))
		l.windowStart, l.sum, l.n = now, 0, 0
	}
}

// adjust moves the limit towards limit * gradient + headroom, smoothed.
func (l *Limiter) adjust(avg float64) {
	// Compare the last window with the long-run average, not with the
	// fastest request: a mix of 0.1 ms cache hits and 10 ms writes is normal
	// traffic, not queueing. Only latency well above the usual (Tolerance)
	// shrinks the limit.
	switch {
	case l.longRTT == 0:
		l.longRTT = avg
	case avg <= l.cfg.Tolerance*l.longRTT:
		// Only latency without queueing teaches what normal is; learning
		// from a queue would make the queue normal.
		l.longRTT += (avg - l.longRTT) * l.cfg.BaselineDecay
	}
	gradient := math.Max(0.5, math.Min(1, l.cfg.Tolerance*l.longRTT/avg))
	cur := float64(l.limit.Load())
	headroom := math.Sqrt(cur) // lets the limit probe upwards...
	if float64(l.peak) < cur/2 {
		headroom = 0 // ...but only when the limit is what holds traffic back
	}
	l.peak = 0
	target := cur*gradient + headroom
	next := 0.8*cur + 0.2*target
	next = math.Max(float64(l.cfg.Min), math.Min(float64(l.cfg.Max), next))
	l.limit.Store(int64(math.Round(next)))
}

// Stats is a snapshot for metrics and /readyz.
type Stats struct {
	Limit, InFlight         int64
	ShedCritical, ShedOther uint64
}

func (l *Limiter) Stats() Stats {
	return Stats{Limit: l.limit.Load(), InFlight: l.inflight.Load(),
		ShedCritical: l.shed[Critical].Load(), ShedOther: l.shed[Sheddable].Load()}
}

// Overloaded reports whether sheddable work is being refused right now.
func (l *Limiter) Overloaded() bool {
	limit := float64(l.limit.Load())
	return float64(l.inflight.Load()) >= math.Floor(limit*l.cfg.SheddableShare)
}
