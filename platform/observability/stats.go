package observability

import (
	"context"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"example.com/productapi/platform/periodic"
)

// Sampler turns the cumulative counters of a Prometheus registry into the
// recent figures an operator console shows: request rate, error rate and
// latency quantiles per route, cache hit ratio per level. It keeps a small
// ring of snapshots and reports the difference between now and the oldest
// snapshot inside the window, so the figures cover about the last Window of
// traffic rather than the whole life of the process.
type Sampler struct {
	g      prometheus.Gatherer
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	ring []snapshot // oldest first
}

// Metric names the sampler reads (written by Metrics and platform/cache).
const (
	durationMetric      = "http_request_duration_seconds"
	inflightMetric      = "http_requests_in_flight"
	cacheRequestsMetric = "cache_requests_total"
)

const (
	maxSnapshots = 128
	// minGap keeps a console polling several times a second from filling
	// the ring with near-identical snapshots.
	minGap = time.Second
)

type routeKey struct{ method, route string }

// hist is one route's request-duration histogram summed over statuses.
type hist struct {
	count  float64
	errors float64   // responses with a 5xx status
	bounds []float64 // finite upper bounds, ascending
	cum    []float64 // cumulative counts per bound
}

type hitMiss struct{ hits, misses float64 }

type snapshot struct {
	at       time.Time
	routes   map[routeKey]*hist
	cache    map[string]*hitMiss // by level
	inflight float64
}

// NewSampler reads g (usually Metrics.Registry) and reports over about the
// last window (default 30s). It takes a first snapshot at once, so the
// first report covers the time since the sampler was created.
func NewSampler(g prometheus.Gatherer, window time.Duration) *Sampler {
	if window <= 0 {
		window = 30 * time.Second
	}
	s := &Sampler{g: g, window: window, now: time.Now}
	_ = s.Record()
	return s
}

// Record takes a snapshot into the ring.
func (s *Sampler) Record() error {
	snap, err := s.take()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.push(snap)
	return nil
}

// Run records a snapshot every interval until ctx ends, so the window is
// filled even when nobody is looking at the console.
func (s *Sampler) Run(ctx context.Context, every time.Duration) {
	periodic.Every(ctx, every, func(context.Context) { _ = s.Record() })
}

// Traffic is the recent traffic of the instance.
type Traffic struct {
	// WindowSeconds is the time the figures cover (between two snapshots).
	WindowSeconds float64 `json:"window_seconds"`
	Requests      uint64  `json:"requests"`
	// RequestRate is requests per second over the window, every route.
	RequestRate float64 `json:"request_rate"`
	// ErrorRate is the share of 5xx responses (0..1); null without requests.
	ErrorRate *float64 `json:"error_rate"`
	// InFlight is the number of requests being served now.
	InFlight float64      `json:"in_flight"`
	Routes   []RouteStats `json:"routes"`
	Cache    []CacheLevel `json:"cache"`
}

// RouteStats are one route's figures over the window. Quantiles are in
// milliseconds, interpolated linearly inside the histogram bucket (as
// Prometheus' histogram_quantile does); a quantile in the open-ended last
// bucket is reported as the highest finite bound.
type RouteStats struct {
	Method      string  `json:"method"`
	Route       string  `json:"route"`
	Requests    uint64  `json:"requests"`
	RequestRate float64 `json:"request_rate"`
	ErrorRate   float64 `json:"error_rate"`
	P50Ms       float64 `json:"p50_ms"`
	P95Ms       float64 `json:"p95_ms"`
	P99Ms       float64 `json:"p99_ms"`
}

// CacheLevel is one cache level's lookups over the window.
type CacheLevel struct {
	Level  string `json:"level"`
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
	// HitRatio is hits / (hits + misses); null without lookups.
	HitRatio *float64 `json:"hit_ratio"`
}

// Traffic takes a snapshot, keeps it, and reports the difference to the
// oldest snapshot inside the window (or, when every kept snapshot is
// older, to the newest of them).
func (s *Sampler) Traffic() (Traffic, error) {
	cur, err := s.take()
	if err != nil {
		return Traffic{}, err
	}
	s.mu.Lock()
	base := s.baseline(cur.at)
	s.push(cur)
	s.mu.Unlock()
	return diff(base, cur), nil
}

// baseline picks the snapshot to compare a snapshot taken at now with:
// the oldest one inside the window, else the newest older one. Snapshots
// not older than now (a concurrent call pushed one meanwhile) are skipped.
func (s *Sampler) baseline(now time.Time) snapshot {
	from := now.Add(-s.window)
	base := snapshot{at: now}
	for _, snap := range s.ring {
		if !snap.at.Before(now) {
			break
		}
		base = snap
		if !snap.at.Before(from) {
			break
		}
	}
	return base
}

// push appends snap (unless the last one is very recent) and drops what
// fell out of the window, keeping the newest snapshot in any case.
func (s *Sampler) push(snap snapshot) {
	if n := len(s.ring); n > 0 && snap.at.Sub(s.ring[n-1].at) < minGap {
		return
	}
	s.ring = append(s.ring, snap)
	from := snap.at.Add(-s.window)
	drop := 0
	for drop < len(s.ring)-1 && (s.ring[drop].at.Before(from) || len(s.ring)-drop > maxSnapshots) {
		drop++
	}
	s.ring = append(s.ring[:0], s.ring[drop:]...)
}

func (s *Sampler) take() (snapshot, error) {
	fams, err := s.g.Gather()
	snap := snapshot{at: s.now(), routes: map[routeKey]*hist{}, cache: map[string]*hitMiss{}}
	if err != nil && len(fams) == 0 {
		return snapshot{}, err
	}
	// A partial gather (one collector failing) still carries the rest.
	for _, f := range fams {
		switch f.GetName() {
		case durationMetric:
			for _, m := range f.GetMetric() {
				addHistogram(snap.routes, m)
			}
		case cacheRequestsMetric:
			for _, m := range f.GetMetric() {
				level, result := label(m, "level"), label(m, "result")
				hm := snap.cache[level]
				if hm == nil {
					hm = &hitMiss{}
					snap.cache[level] = hm
				}
				switch result {
				case "hit":
					hm.hits += m.GetCounter().GetValue()
				case "miss":
					hm.misses += m.GetCounter().GetValue()
				}
			}
		case inflightMetric:
			for _, m := range f.GetMetric() {
				snap.inflight += m.GetGauge().GetValue()
			}
		}
	}
	return snap, nil
}

func addHistogram(routes map[routeKey]*hist, m *dto.Metric) {
	h := m.GetHistogram()
	if h == nil {
		return
	}
	k := routeKey{method: label(m, "method"), route: label(m, "route")}
	r := routes[k]
	if r == nil {
		r = &hist{}
		for _, b := range h.GetBucket() {
			if !math.IsInf(b.GetUpperBound(), +1) {
				r.bounds = append(r.bounds, b.GetUpperBound())
			}
		}
		r.cum = make([]float64, len(r.bounds))
		routes[k] = r
	}
	n := float64(h.GetSampleCount())
	r.count += n
	if strings.HasPrefix(label(m, "status"), "5") {
		r.errors += n
	}
	for i, b := range h.GetBucket() {
		if i < len(r.cum) && b.GetUpperBound() == r.bounds[i] {
			r.cum[i] += float64(b.GetCumulativeCount())
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// diff computes the figures between two snapshots of the same registry.
func diff(base, cur snapshot) Traffic {
	secs := cur.at.Sub(base.at).Seconds()
	t := Traffic{WindowSeconds: round(secs, 3), InFlight: cur.inflight, Routes: []RouteStats{}, Cache: []CacheLevel{}}
	var total, errs float64
	for k, c := range cur.routes {
		b := base.routes[k]
		d := c.minus(b)
		if d.count <= 0 {
			continue
		}
		total += d.count
		errs += d.errors
		rs := RouteStats{Method: k.method, Route: k.route, Requests: uint64(d.count),
			RequestRate: rate(d.count, secs), ErrorRate: round(d.errors/d.count, 4)}
		rs.P50Ms = round(quantile(0.50, d.bounds, d.cum, d.count)*1000, 3)
		rs.P95Ms = round(quantile(0.95, d.bounds, d.cum, d.count)*1000, 3)
		rs.P99Ms = round(quantile(0.99, d.bounds, d.cum, d.count)*1000, 3)
		t.Routes = append(t.Routes, rs)
	}
	sort.Slice(t.Routes, func(i, j int) bool {
		a, b := t.Routes[i], t.Routes[j]
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		return a.Method < b.Method
	})
	t.Requests = uint64(total)
	t.RequestRate = rate(total, secs)
	if total > 0 {
		e := round(errs/total, 4)
		t.ErrorRate = &e
	}
	levels := make([]string, 0, len(cur.cache))
	for l := range cur.cache {
		levels = append(levels, l)
	}
	sort.Strings(levels)
	for _, l := range levels {
		c, b := cur.cache[l], base.cache[l]
		hits, misses := c.hits, c.misses
		if b != nil {
			hits, misses = hits-b.hits, misses-b.misses
		}
		hits, misses = math.Max(hits, 0), math.Max(misses, 0)
		cl := CacheLevel{Level: l, Hits: uint64(hits), Misses: uint64(misses)}
		if hits+misses > 0 {
			r := round(hits/(hits+misses), 4)
			cl.HitRatio = &r
		}
		t.Cache = append(t.Cache, cl)
	}
	return t
}

// minus is c - b (b may be nil: the route had no requests before).
func (c *hist) minus(b *hist) hist {
	d := hist{count: c.count, errors: c.errors, bounds: c.bounds, cum: append([]float64(nil), c.cum...)}
	if b == nil || len(b.cum) != len(c.cum) {
		return d
	}
	d.count -= b.count
	d.errors -= b.errors
	for i := range d.cum {
		d.cum[i] -= b.cum[i]
	}
	return d
}

// quantile estimates the q-quantile (0..1) from cumulative bucket counts
// the way Prometheus' histogram_quantile does: find the bucket holding the
// rank and interpolate linearly between its bounds (the first bucket starts
// at 0). A rank beyond the last finite bound gives that bound.
func quantile(q float64, bounds, cum []float64, total float64) float64 {
	if total <= 0 || len(bounds) == 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, upper := range bounds {
		if cum[i] >= rank {
			in := cum[i] - below
			if in <= 0 {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/in
		}
		lower, below = upper, cum[i]
	}
	return bounds[len(bounds)-1]
}

func rate(n, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return round(n/secs, 3)
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
