// Package health answers /livez and /readyz. Readiness has critical checks
// (the database, migrations) that make the instance unready, and
// non-critical ones (Redis) that only mark it degraded, because the service
// keeps answering without them.
package health

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// Check returns nil when the dependency is fine.
type Check struct {
	Name     string
	Critical bool
	Run      func(ctx context.Context) error
	// Every caches the result this long (costly checks); 0 = run each time.
	Every time.Duration
}

// Checker runs the checks.
type Checker struct {
	ready  *atomic.Bool
	checks []Check

	mu     sync.Mutex
	cached map[string]cachedResult
}

type cachedResult struct {
	err error
	at  time.Time
}

// New builds a checker; ready is false before serving and while draining.
func New(ready *atomic.Bool, checks ...Check) *Checker {
	return &Checker{ready: ready, checks: checks, cached: map[string]cachedResult{}}
}

// Add registers another check (modules and platform services add theirs).
func (h *Checker) Add(c Check) { h.checks = append(h.checks, c) }

// Report is the /readyz body.
type Report struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Evaluate runs every check (with a deadline) and summarises.
func (h *Checker) Evaluate(ctx context.Context) (Report, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rep := Report{Status: "ok", Checks: map[string]string{}}
	ok := true
	if !h.ready.Load() {
		rep.Checks["server"] = "draining"
		ok = false
	}
	degraded := false
	for _, c := range h.checks {
		err := h.run(ctx, c)
		switch {
		case err == nil:
			rep.Checks[c.Name] = "ok"
		case c.Critical:
			// Only the verdict: error text can name internal hosts.
			rep.Checks[c.Name] = "down"
			ok = false
		default:
			rep.Checks[c.Name] = "degraded"
			degraded = true
		}
	}
	switch {
	case !ok:
		rep.Status = "unavailable"
	case degraded:
		rep.Status = "degraded"
	}
	return rep, ok
}

func (h *Checker) run(ctx context.Context, c Check) error {
	if c.Every > 0 {
		h.mu.Lock()
		r, hit := h.cached[c.Name]
		h.mu.Unlock()
		if hit && time.Since(r.at) < c.Every {
			return r.err
		}
	}
	// A check that ignores its context (a driver dialing a black hole)
	// must not hang /readyz: the verdict is "down" at the deadline and the
	// straggler finishes on its own.
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if c.Every > 0 {
		h.mu.Lock()
		h.cached[c.Name] = cachedResult{err: err, at: time.Now()}
		h.mu.Unlock()
	}
	return err
}

// Names lists the registered checks (for tests and docs).
func (h *Checker) Names() []string {
	var out []string
	for _, c := range h.checks {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}

// Live answers /livez: the process is up.
func Live(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// Ready answers /readyz: 200 when the instance can serve, 503 otherwise.
func (h *Checker) Ready(c *gin.Context) {
	rep, ok := h.Evaluate(c.Request.Context())
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, rep)
}
