package resilience

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// A simulated server whose latency grows once more than capacity requests
// run at once (processor sharing), driven far past capacity by a mix of
// critical and sheddable clients. The limit must come down from its
// generous start, sheddable work must be refused first, and critical work
// must keep getting through.
func TestLimiterShedsSheddableFirstUnderOverload(t *testing.T) {
	const capacity = 8
	l := NewLimiter(LimiterConfig{Initial: 200, Min: 4, Window: 20 * time.Millisecond})
	var running atomic.Int64
	work := func() {
		n := running.Add(1)
		defer running.Add(-1)
		time.Sleep(time.Millisecond * time.Duration(max(1, n/capacity)))
	}
	var admitted, refused [2]atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(1500 * time.Millisecond)
	for i := 0; i < 120; i++ {
		if i < 40 {
			time.Sleep(5 * time.Millisecond) // traffic ramps up, as it does, so "normal" latency is learnt first
		}
		class := Sheddable
		if i%3 == 0 {
			class = Critical // one client in three does critical work
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if !l.Acquire(class) {
					refused[class].Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				start := time.Now()
				work()
				l.Release(time.Since(start))
				admitted[class].Add(1)
			}
		}()
	}
	wg.Wait()
	st := l.Stats()
	t.Logf("limit %d; critical admitted %d refused %d; sheddable admitted %d refused %d",
		st.Limit, admitted[Critical].Load(), refused[Critical].Load(), admitted[Sheddable].Load(), refused[Sheddable].Load())
	if st.Limit >= 200 {
		t.Fatalf("limit stayed at %d under overload", st.Limit)
	}
	if refused[Sheddable].Load() == 0 {
		t.Fatal("nothing sheddable was shed")
	}
	critShare := float64(refused[Critical].Load()) / float64(refused[Critical].Load()+admitted[Critical].Load())
	shedShare := float64(refused[Sheddable].Load()) / float64(refused[Sheddable].Load()+admitted[Sheddable].Load())
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
