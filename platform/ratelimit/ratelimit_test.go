package ratelimit

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/redistest"

	"example.com/productapi/platform/testkit/netproxy"
)

// clock is a manual clock the tests move.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration)     { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Since(t time.Time) int64 { return c.ns.Load() - t.UnixNano() }

// allowFunc is one implementation under test.
type allowFunc func(t *testing.T, key string, p Policy) Decision

// backends runs fn against the local log and, when Redis is reachable,
// the Redis log: the same contract for both.
func backends(t *testing.T, fn func(t *testing.T, clk *clock, allow allowFunc)) {
	t.Run("local", func(t *testing.T) {
		clk := newClock()
		l := NewLocal(clk.Now)
		fn(t, clk, func(_ *testing.T, key string, p Policy) Decision { return l.Allow(key, p) })
	})
	t.Run("redis", func(t *testing.T) {
		rdb := testRedis(t)
		clk := newClock()
		r := NewRedis(rdb, testNamespace(t, rdb), clk.Now)
		fn(t, clk, func(t *testing.T, key string, p Policy) Decision {
			t.Helper()
			d, err := r.Allow(context.Background(), key, p)
			if err != nil {
				t.Fatalf("redis allow: %v", err)
			}
			return d
		})
	})
}

// testRedis is the real Redis of the tests (platform/testkit/redistest).
func testRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	return redistest.Client(tb, nil)
}

// testNamespace is unique per test; its keys are dropped afterwards.
func testNamespace(tb testing.TB, rdb redis.UniversalClient) string {
	var b [4]byte
	_, _ = crand.Read(b[:])
	ns := "rltest" + hex.EncodeToString(b[:])
	tb.Cleanup(func() { _ = NewRedis(rdb, ns, nil).Clear(context.Background()) })
	return ns
}

func TestAdmitsUpToTheLimitThenRefuses(t *testing.T) {
	backends(t, func(t *testing.T, clk *clock, allow allowFunc) {
		p := Policy{Name: "auth", Limit: 3, Window: time.Minute}
		for i := 0; i < 3; i++ {
			d := allow(t, "ip:10.0.0.1", p)
			if !d.Allowed || d.Remaining != 2-i {
				t.Fatalf("request %d: %+v, want allowed with %d left", i+1, d, 2-i)
			}
			if d.Reset != time.Minute-time.Duration(i)*time.Second {
				t.Fatalf("request %d: reset %s, want the oldest admission's exit", i+1, d.Reset)
			}
			clk.Add(time.Second)
		}
		d := allow(t, "ip:10.0.0.1", p)
		if d.Allowed || d.Remaining != 0 {
			t.Fatalf("4th request %+v, want refused", d)
		}
		if d.Reset != 57*time.Second {
			t.Fatalf("refused: reset %s, want 57s (the first admission leaves then)", d.Reset)
		}
		// Other keys and other groups have their own quota.
		if !allow(t, "ip:10.0.0.2", p).Allowed {
			t.Fatal("another client was refused")
		}
		if !allow(t, "ip:10.0.0.1", Policy{Name: "default", Limit: 3, Window: time.Minute}).Allowed {
			t.Fatal("another group was refused")
		}
		// Refusals are not counted: once the first admission leaves, one
		// more is admitted, and exactly one.
		clk.Add(57 * time.Second)
		if d := allow(t, "ip:10.0.0.1", p); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("after the first admission left: %+v, want allowed with 0 left", d)
		}
		if allow(t, "ip:10.0.0.1", p).Allowed {
			t.Fatal("admitted beyond the limit after the window slid")
		}
	})
}

// The fixed-window flaw: a client spends its whole quota just before a
// boundary and again just after it, getting 2x the limit within a moment.
// A sliding window admits nothing more until the first burst has aged a
// whole window.
func TestNoDoubleQuotaAcrossAWindowBoundary(t *testing.T) {
	backends(t, func(t *testing.T, clk *clock, allow allowFunc) {
		const limit = 10
		p := Policy{Name: "auth", Limit: limit, Window: time.Minute}
		// Align to a minute boundary, then burst 1 ms before it.
		boundary := time.Unix(0, clk.ns.Load()).Truncate(time.Minute).Add(time.Minute)
		clk.Set(boundary.Add(-time.Millisecond))
		for i := 0; i < limit; i++ {
			if !allow(t, "u:alice", p).Allowed {
				t.Fatalf("burst request %d refused", i+1)
			}
		}
		admitted := 0
		// Straddle: keep knocking from just after the boundary until just
		// before the burst ages out.
		for _, at := range []time.Duration{time.Millisecond, time.Second, 30 * time.Second, 58*time.Second + 998*time.Millisecond} {
			clk.Set(boundary.Add(at))
			for i := 0; i < limit; i++ {
				if allow(t, "u:alice", p).Allowed {
					admitted++
				}
			}
		}
		if admitted != 0 {
			t.Fatalf("%d requests admitted within one window of a full burst (limit %d)", admitted, limit)
		}
		// Exactly one window after the burst, the whole quota is back.
		clk.Set(boundary.Add(time.Minute - time.Millisecond))
		for i := 0; i < limit; i++ {
			if !allow(t, "u:alice", p).Allowed {
				t.Fatalf("request %d refused a full window after the burst", i+1)
			}
		}
		if allow(t, "u:alice", p).Allowed {
			t.Fatal("admitted beyond the limit")
		}
	})
}

// Random arrival times: every window (t-W, t] ending at an admission holds
// at most Limit admissions (safety), and a request is refused only when its
// window already held Limit (exactness: no needless refusals).
func TestSlidingWindowIsExactUnderRandomTraffic(t *testing.T) {
	backends(t, func(t *testing.T, clk *clock, allow allowFunc) {
		p := Policy{Name: "catalogue", Limit: 7, Window: 10 * time.Second}
		rng := rand.New(rand.NewPCG(1, 2))
		start := clk.Now()
		var admitted []int64 // ns since start
		for i := 0; i < 300; i++ {
			clk.Add(time.Duration(rng.Int64N(int64(400 * time.Millisecond))))
			now := clk.Since(start)
			inWindow := 0
			for _, a := range admitted {
				if a > now-int64(p.Window) {
					inWindow++
				}
			}
			d := allow(t, "ip:192.0.2.7", p)
			if d.Allowed != (inWindow < p.Limit) {
				t.Fatalf("request %d at %s: allowed=%v with %d admissions in the window (limit %d)", i, time.Duration(now), d.Allowed, inWindow, p.Limit)
			}
			if d.Allowed {
				admitted = append(admitted, now)
			}
		}
		if len(admitted) < 30 || 300-len(admitted) < 100 {
			t.Fatalf("%d of 300 admitted: the traffic did not exercise both sides of the limit", len(admitted))
		}
	})
}

// Two instances sharing Redis share one quota.
func TestRedisQuotaIsSharedBetweenInstances(t *testing.T) {
	rdb := testRedis(t)
	ns := testNamespace(t, rdb)
	a, b := NewRedis(rdb, ns, nil), NewRedis(rdb, ns, nil)
	p := Policy{Name: "auth", Limit: 10, Window: time.Minute}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(r *Redis) {
			defer wg.Done()
			d, err := r.Allow(context.Background(), "ip:198.51.100.1", p)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				allowed.Add(1)
			}
		}([]*Redis{a, b}[i%2])
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Fatalf("%d of 40 concurrent requests across two instances admitted, want exactly the limit 10", allowed.Load())
	}
}

// Redis disappears (black hole): decisions fall back to the local log at
// once (still limiting), the mode says local, and Redis is used again when
// it answers.
func TestLimiterFallsBackToLocalAndRecovers(t *testing.T) {
	rdb := testRedis(t)
	proxy := netproxy.Start(t, rdb.Options().Addr)
	opt := *rdb.Options()
	opt.Addr = proxy.Addr()
	opt.MaxRetries = -1
	// Generous budgets: a healthy call that overran one would be decided
	// locally and put the exact counts below off by one. Detecting the
	// black hole then takes breakerTrips x 1 s.
	opt.DialTimeout = time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	viaProxy := redis.NewClient(&opt)
	t.Cleanup(func() { _ = viaProxy.Close() })
	p := Policy{Name: "auth", Limit: 5, Window: time.Minute}
	l := New(Options{Policies: map[string]Policy{GroupAuth: p}, Redis: viaProxy, Namespace: testNamespace(t, rdb),
		RedisTimeout: time.Second, Cooldown: 200 * time.Millisecond})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if !l.Allow(ctx, "ip:203.0.113.9", p).Allowed {
			t.Fatal("refused below the limit")
		}
	}
	if l.Mode() != "redis" || l.Health(ctx) != nil {
		t.Fatalf("mode %s health %v, want redis and healthy", l.Mode(), l.Health(ctx))
	}

	proxy.SetCut(true)
	admitted := 0
	for i := 0; i < 20; i++ {
		if l.Allow(ctx, "ip:203.0.113.9", p).Allowed {
			admitted++
		}
	}
	if admitted != p.Limit {
		t.Fatalf("redis down: %d of 20 admitted, want the local limit %d", admitted, p.Limit)
	}
	if l.Mode() != "local" || l.Health(ctx) == nil {
		t.Fatalf("redis down: mode %s health %v, want local and degraded", l.Mode(), l.Health(ctx))
	}

	proxy.SetCut(false)
	// No traffic needed: the readiness check probes Redis itself.
	testkit.Eventually(t, 5*time.Second, "the limiter to go back to Redis", func() bool { return l.Health(ctx) == nil })
	if l.Mode() != "redis" {
		t.Fatalf("healthy again but mode %s", l.Mode())
	}
	// Back on Redis: the two admissions made there before the outage count.
	admitted = 0
	for i := 0; i < 10; i++ {
		if l.Allow(ctx, "ip:203.0.113.9", p).Allowed {
			admitted++
		}
	}
	if admitted != p.Limit-2 {
		t.Fatalf("redis back: %d admitted, want %d (the shared log kept its two)", admitted, p.Limit-2)
	}
}

func TestIdleKeysAreSwept(t *testing.T) {
	clk := newClock()
	l := NewLocal(clk.Now)
	p := Policy{Name: "auth", Limit: 2, Window: time.Second}
	for i := 0; i < 100; i++ {
		l.Allow(UserKey(fmt.Sprintf("old-%d", i)), p)
	}
	if l.Keys() != 100 {
		t.Fatalf("%d keys tracked, want 100", l.Keys())
	}
	clk.Add(time.Minute)
	for i := 0; i < 2000; i++ { // enough keys to touch every shard
		l.Allow(UserKey(fmt.Sprintf("new-%d", i)), p)
	}
	if n := l.Keys(); n != 2000 {
		t.Fatalf("%d keys tracked after the first 100 went idle, want 2000", n)
	}
}

// The middleware limits a route in the group its lookup names ("" is the
// default group) and leaves alone a route the lookup does not limit. Which
// route is in which group is declared where it is registered (routemeta);
// modules/app's TestEveryRouteDeclaresItsLimits checks the real router.
func TestMiddlewareGroups(t *testing.T) {
	gin.SetMode(gin.TestMode)
	policies := map[string]Policy{
		GroupDefault:   {Name: GroupDefault, Limit: 5, Window: time.Minute},
		GroupCatalogue: {Name: GroupCatalogue, Limit: 9, Window: time.Minute},
	}
	declared := map[string]struct {
		group   string
		limited bool
	}{"/default": {"", true}, "/catalogue": {GroupCatalogue, true}, "/free": {"", false}}
	r := gin.New()
	r.Use(New(Options{Policies: policies}).Middleware(func(c *gin.Context) (string, bool) {
		d := declared[c.FullPath()]
		return d.group, d.limited
	}))
	for route := range declared {
		r.GET(route, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	}
	for route, want := range map[string]string{"/default": `"default";q=5;w=60`, "/catalogue": `"catalogue";q=9;w=60`, "/free": ""} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", route, nil))
		if got := w.Header().Get("RateLimit-Policy"); got != want {
			t.Errorf("%s: RateLimit-Policy %q, want %q", route, got, want)
		}
	}
}

func TestHeaders(t *testing.T) {
	p := Policy{Name: "auth", Limit: 10, Window: time.Minute}
	if got := PolicyHeader(p); got != `"auth";q=10;w=60` {
		t.Fatalf("policy %s", got)
	}
	if got := StateHeader(p, Decision{Remaining: 7, Reset: 41*time.Second + time.Millisecond}); got != `"auth";r=7;t=42` {
		t.Fatalf("state %s", got)
	}
}

func TestKeys(t *testing.T) {
	cases := map[string]string{
		"203.0.113.9":               "ip:203.0.113.9",
		" 203.0.113.9 ":             "ip:203.0.113.9",
		"::ffff:203.0.113.9":        "ip:203.0.113.9",
		"2001:db8:1:2:3:4:5:6":      "ip:2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":      "ip:2001:db8:1:2::/64",
		"fe80::1%eth0":              "ip:fe80::/64",
		"":                          "ip:unknown",
		"not an ip":                 "ip:unknown",
		"203.0.113.9, 198.51.100.1": "ip:unknown",
	}
	for in, want := range cases {
		if got := IPKey(in); got != want {
			t.Errorf("IPKey(%q) = %q, want %q", in, got, want)
		}
	}
	if got := UserKey("01J9Z6V3QK"); got != "u:01J9Z6V3QK" {
		t.Fatalf("UserKey %q", got)
	}
	if got := UserKey("a b:c\"d;" + strings.Repeat("x", 200)); strings.ContainsAny(got[2:], " :\";") || len(got) > maxKeyLen {
		t.Fatalf("UserKey kept separators or length: %q", got)
	}
}

// FuzzKeys: whatever a client or a token puts there, keys stay short,
// printable, free of separators, and distinct users never share the "ip:"
// space.
func FuzzKeys(f *testing.F) {
	for _, s := range []string{"203.0.113.9", "::1", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1%eth0", "", "1.2.3.4, 5.6.7.8", "u:x", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip := IPKey(s)
		if !strings.HasPrefix(ip, "ip:") || len(ip) > maxKeyLen {
			t.Fatalf("IPKey(%q) = %q", s, ip)
		}
		u := UserKey(s)
		if !strings.HasPrefix(u, "u:") || len(u) > maxKeyLen {
			t.Fatalf("UserKey(%q) = %q", s, u)
		}
		for _, r := range u[2:] {
			if r <= ' ' || r > '~' || r == ':' || r == '"' || r == ';' {
				t.Fatalf("UserKey(%q) = %q keeps %q", s, u, r)
			}
		}
	})
}
