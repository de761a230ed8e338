package resilience

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// A simulated server whose latency grows once more than capacity requests
// run at once (processor sharing), driven far past capacity by a mix of
// critical and sheddable clients. The limit must come down from its
// generous start, sheddable work must be refused first, and critical work
// must keep getting through.
//
// The simulation runs on a fake clock in 1 ms steps, so the verdict does
// not depend on how busy the machine running the test is (real sleeps
// under -race on a shared CI machine made "normal" latency unlearnable).
func TestLimiterShedsSheddableFirstUnderOverload(t *testing.T) {
	const (
		capacity = 8
		clients  = 120
		steps    = 1500 // ms
	)
	clock := time.Unix(0, 0)
	l := NewLimiter(LimiterConfig{Initial: 200, Min: 4, Window: 20 * time.Millisecond})
	l.now = func() time.Time { return clock }
	l.windowStart = clock

	type request struct {
		busy       bool
		start, end time.Time
	}
	var (
		inFlight          [clients]request
		admitted, refused [2]int
	)
	classOf := func(i int) Class {
		if i%3 == 0 {
			return Critical // one client in three does critical work
		}
		return Sheddable
	}
	for step := 1; step <= steps; step++ {
		clock = clock.Add(time.Millisecond)
		// Traffic ramps up, as it does, so "normal" latency is learnt
		// first: one client every 5 ms for the first 40, then the rest.
		active := clients
		if step < 200 {
			active = step/5 + 1
		}
		for i := 0; i < active; i++ {
			r := &inFlight[i]
			if r.busy && !clock.Before(r.end) {
				l.Release(r.end.Sub(r.start))
				admitted[classOf(i)]++
				r.busy = false
			}
			if r.busy {
				continue
			}
			if !l.Acquire(classOf(i)) {
				refused[classOf(i)]++
				continue
			}
			// Processor sharing: each request beyond capacity slows all.
			n := l.Stats().InFlight
			*r = request{busy: true, start: clock, end: clock.Add(time.Millisecond * time.Duration(max(1, n/capacity)))}
		}
	}
	for i := range inFlight {
		if inFlight[i].busy {
			l.Release(inFlight[i].end.Sub(inFlight[i].start))
		}
	}
	st := l.Stats()
	t.Logf("limit %d; critical admitted %d refused %d; sheddable admitted %d refused %d",
		st.Limit, admitted[Critical], refused[Critical], admitted[Sheddable], refused[Sheddable])
	if st.Limit >= 200 {
		t.Fatalf("limit stayed at %d under overload", st.Limit)
	}
	if st.Limit > 4*capacity {
		t.Errorf("limit %d: far above the capacity of %d it should settle near", st.Limit, capacity)
	}
	if refused[Sheddable] == 0 {
		t.Fatal("nothing sheddable was shed")
	}
	if admitted[Critical] == 0 {
		t.Fatal("no critical work got through")
	}
	critShare := float64(refused[Critical]) / float64(refused[Critical]+admitted[Critical])
	shedShare := float64(refused[Sheddable]) / float64(refused[Sheddable]+admitted[Sheddable])
	if critShare >= shedShare {
		t.Fatalf("critical refused %.2f of the time, sheddable %.2f: sheddable must go first", critShare, shedShare)
	}
	if st.InFlight != 0 {
		t.Fatalf("in-flight %d after the run: an Acquire/Release pair leaked", st.InFlight)
	}
}

// When the limit is what holds traffic back and latency stays flat, the
// limit grows; when traffic is far below it, it does not (nothing to learn).
func TestLimiterGrowsOnlyWhenItBinds(t *testing.T) {
	l := NewLimiter(LimiterConfig{Initial: 10, Max: 100, Window: 5 * time.Millisecond})
	var wg sync.WaitGroup
	stop := time.Now().Add(500 * time.Millisecond)
	for i := 0; i < 30; i++ { // more clients than the limit, constant service time
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if l.Acquire(Critical) {
					time.Sleep(time.Millisecond)
					l.Release(time.Millisecond)
				} else {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
	if got := l.Stats().Limit; got <= 10 {
		t.Fatalf("limit %d did not grow with flat latency while binding", got)
	}

	idle := NewLimiter(LimiterConfig{Initial: 50, Window: time.Millisecond})
	for i := 0; i < 500; i++ {
		idle.Acquire(Critical)
		idle.Release(time.Millisecond)
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if got := idle.Stats().Limit; got > 50 {
		t.Fatalf("limit grew to %d while one request at a time was in flight", got)
	}
}

func TestMiddlewareAnswers503WithRetryAfter(t *testing.T) {
	gin.SetMode(gin.TestMode)
	l := NewLimiter(LimiterConfig{Initial: 1, Min: 1})
	block := make(chan struct{})
	r := gin.New()
	r.Use(l.Middleware(func(c *gin.Context) (Class, bool) { return Critical, c.Request.URL.Path != "/readyz" }))
	r.GET("/slow", func(c *gin.Context) { <-block; c.Status(200) })
	r.GET("/readyz", func(c *gin.Context) { c.Status(200) })
	done := make(chan struct{})
	go func() { r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil)); close(done) }()
	for l.Stats().InFlight == 0 {
		time.Sleep(time.Millisecond)
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/slow", nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 200 {
		t.Fatalf("unlimited route refused: %d", w.Code)
	}
	close(block)
	<-done
}
