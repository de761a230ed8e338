package observability

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/cache"
)

// clock is a manual time source for the sampler.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClockedSampler(m *Metrics, window time.Duration) (*Sampler, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s := &Sampler{g: m.Registry, window: window, now: c.now}
	if err := s.Record(); err != nil {
		panic(err)
	}
	return s, c
}

func observe(m *Metrics, route, method, status string, seconds float64, n int) {
	for range n {
		m.duration.WithLabelValues(route, method, status).Observe(seconds)
	}
}

func findRoute(t *testing.T, tr Traffic, method, route string) RouteStats {
	t.Helper()
	for _, r := range tr.Routes {
		if r.Method == method && r.Route == route {
			return r
		}
	}
	t.Fatalf("no route %s %s in %+v", method, route, tr.Routes)
	return RouteStats{}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestSamplerRatesAndQuantiles(t *testing.T) {
	m := NewMetrics()
	s, clk := newClockedSampler(m, 30*time.Second)

	// 100 requests in 10 s on one route: 90 in the (1ms, 2.5ms] bucket,
	// 10 in (50ms, 100ms], 5 of the slow ones failed with a 503.
	observe(m, "/v1/products", "GET", "200", 0.002, 90)
	observe(m, "/v1/products", "GET", "200", 0.08, 5)
	observe(m, "/v1/products", "GET", "503", 0.08, 5)
	observe(m, "/v1/orders", "POST", "201", 0.004, 10)
	clk.advance(10 * time.Second)
	tr, err := s.Traffic()
	if err != nil {
		t.Fatal(err)
	}
	if tr.WindowSeconds != 10 || tr.Requests != 110 || !near(tr.RequestRate, 11) {
		t.Fatalf("window %v requests %d rate %v, want 10 s, 110, 11/s", tr.WindowSeconds, tr.Requests, tr.RequestRate)
	}
	if tr.ErrorRate == nil || !near(*tr.ErrorRate, round(5.0/110, 4)) {
		t.Fatalf("error rate %v, want %v", tr.ErrorRate, 5.0/110)
	}
	if tr.Routes[0].Route != "/v1/products" {
		t.Fatalf("routes are not ordered by requests: %+v", tr.Routes)
	}
	p := findRoute(t, tr, "GET", "/v1/products")
	if p.Requests != 100 || !near(p.RequestRate, 10) || !near(p.ErrorRate, 0.05) {
		t.Fatalf("products: %+v", p)
	}
	// histogram_quantile: p50 rank 50 of 90 in (1, 2.5] ms -> 1 + 1.5*50/90;
	// p95 rank 95 -> 5th of 10 in (50, 100] ms -> 75; p99 rank 99 -> 95.
	if want := round((0.001+0.0015*50/90)*1000, 3); !near(p.P50Ms, want) {
		t.Errorf("p50 = %v ms, want %v", p.P50Ms, want)
	}
	if !near(p.P95Ms, 75) || !near(p.P99Ms, 95) {
		t.Errorf("p95 = %v, p99 = %v ms; want 75 and 95", p.P95Ms, p.P99Ms)
	}
	o := findRoute(t, tr, "POST", "/v1/orders")
	if o.Requests != 10 || o.ErrorRate != 0 || o.P50Ms <= 2.5 || o.P50Ms > 5 {
		t.Errorf("orders: %+v", o)
	}

	// 25 s later, 4 new slow requests on one route: the first snapshot
	// (35 s old) left the window, so the figures cover the new traffic only,
	// compared with the snapshot of 25 s ago.
	clk.advance(25 * time.Second)
	observe(m, "/v1/products", "GET", "200", 3, 4) // in (2.5 s, 5 s]
	tr, err = s.Traffic()
	if err != nil {
		t.Fatal(err)
	}
	if tr.WindowSeconds != 25 || tr.Requests != 4 || len(tr.Routes) != 1 || tr.ErrorRate == nil || *tr.ErrorRate != 0 {
		t.Fatalf("second window: %+v", tr)
	}
	if p := tr.Routes[0]; p.P50Ms <= 2500 || p.P99Ms > 5000 {
		t.Errorf("slow requests: %+v", p)
	}
}

func TestSamplerWindowSlides(t *testing.T) {
	m := NewMetrics()
	s, clk := newClockedSampler(m, 30*time.Second)
	// One request per 10 s tick, recorded by the background ticker path.
	for range 6 {
		clk.advance(10 * time.Second)
		observe(m, "/x", "GET", "200", 0.001, 1)
		if err := s.Record(); err != nil {
			t.Fatal(err)
		}
	}
	clk.advance(5 * time.Second)
	tr, err := s.Traffic()
	if err != nil {
		t.Fatal(err)
	}
	// The oldest snapshot inside 30 s is 25 s old (taken after request 4),
	// so requests 5 and 6 are counted, not all 6.
	if tr.WindowSeconds != 25 || tr.Requests != 2 {
		t.Fatalf("window %v s, %d requests; want 25 s and 2", tr.WindowSeconds, tr.Requests)
	}
	if len(s.ring) > 4 {
		t.Errorf("ring keeps %d snapshots for a 30 s window at 10 s spacing", len(s.ring))
	}

	// Nothing happens for longer than the window: the report still compares
	// with the newest snapshot (it never goes back to process start).
	clk.advance(2 * time.Minute)
	if tr, _ = s.Traffic(); tr.Requests != 0 || tr.ErrorRate != nil || tr.RequestRate != 0 {
		t.Fatalf("idle window: %+v", tr)
	}
	if tr.WindowSeconds != 120 {
		t.Errorf("idle window covers %v s, want 120", tr.WindowSeconds)
	}
	// Polling faster than a second does not grow the ring.
	n := len(s.ring)
	for range 10 {
		clk.advance(100 * time.Millisecond)
		_, _ = s.Traffic()
	}
	if len(s.ring) > n+1 {
		t.Errorf("ring grew from %d to %d on sub-second polls", n, len(s.ring))
	}
}

func TestQuantileEdges(t *testing.T) {
	bounds := []float64{1, 2, 4}
	cases := []struct {
		q, want float64
		cum     []float64
		total   float64
	}{
		{0.5, 0.5, []float64{10, 10, 10}, 10}, // first bucket starts at 0
		{0.5, 3, []float64{0, 0, 10}, 10},     // interpolated inside (2, 4]
		{0.99, 4, []float64{0, 0, 1}, 10},     // rank in +Inf: highest finite bound
		{0.5, 0, []float64{0, 0, 0}, 0},       // no observations
		{1, 2, []float64{5, 10, 10}, 10},      // the top of the bucket reaching the total
	}
	for _, c := range cases {
		if got := quantile(c.q, bounds, c.cum, c.total); !near(got, c.want) {
			t.Errorf("quantile(%v, %v, total %v) = %v, want %v", c.q, c.cum, c.total, got, c.want)
		}
	}
}

// TestSamplerReadsRealMiddlewareAndCache feeds the sampler through the real
// HTTP middleware and a real cache, so the metric names it reads are the
// ones the service writes.
func TestSamplerReadsRealMiddlewareAndCache(t *testing.T) {
	gin.SetMode(gin.TestMode)
	m := NewMetrics()
	c, err := cache.New(cache.Config{Namespace: "statstest"}, nil, nil, m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s, clk := newClockedSampler(m, 30*time.Second)

	r := gin.New()
	r.Use(m.Middleware())
	r.GET("/items/:id", func(ctx *gin.Context) {
		res, err := c.GetOrLoad(ctx.Request.Context(), ctx.Param("id"), func(context.Context) ([]byte, bool, error) {
			return []byte("v"), true, nil
		})
		if err != nil {
			ctx.Status(http.StatusInternalServerError)
			return
		}
		ctx.Data(http.StatusOK, "text/plain", res.Value)
	})
	r.GET("/boom", func(ctx *gin.Context) { ctx.Status(http.StatusBadGateway) })
	for _, path := range []string{"/items/1", "/items/1", "/items/1", "/items/2", "/boom"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	clk.advance(5 * time.Second)
	tr, err := s.Traffic()
	if err != nil {
		t.Fatal(err)
	}
	items := findRoute(t, tr, "GET", "/items/:id")
	if items.Requests != 4 || items.ErrorRate != 0 || items.P99Ms <= 0 {
		t.Errorf("items route: %+v", items)
	}
	if boom := findRoute(t, tr, "GET", "/boom"); boom.ErrorRate != 1 {
		t.Errorf("boom route: %+v", boom)
	}
	if tr.ErrorRate == nil || *tr.ErrorRate != 0.2 {
		t.Errorf("error rate %v, want 0.2", tr.ErrorRate)
	}
	var l1 *CacheLevel
	for i := range tr.Cache {
		if tr.Cache[i].Level == "l1" {
			l1 = &tr.Cache[i]
		}
	}
	// Two keys: a miss each, then two hits on the first.
	if l1 == nil || l1.Hits != 2 || l1.Misses != 2 || l1.HitRatio == nil || *l1.HitRatio != 0.5 {
		t.Fatalf("l1 level: %+v in %+v", l1, tr.Cache)
	}
}

// A snapshot pushed by a concurrent call, newer than the caller's own, is
// never the baseline (the window would be negative).
func TestSamplerBaselineIgnoresNewerSnapshots(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := &Sampler{window: 30 * time.Second, ring: []snapshot{{at: start}, {at: start.Add(40 * time.Second)}}}
	// Taken at +35 s, but the +40 s snapshot got in first: the baseline is
	// the older one, though it is outside the window.
	if b := s.baseline(start.Add(35 * time.Second)); !b.at.Equal(start) {
		t.Fatalf("baseline at %v, want %v", b.at, start)
	}
	if b := s.baseline(start.Add(50 * time.Second)); !b.at.Equal(start.Add(40 * time.Second)) {
		t.Fatalf("baseline at %v, want the +40 s snapshot", b.at)
	}
}
