package ratelimit

import (
	"context"
	"example.com/productapi/platform/testkit"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/testkit/netproxy"
)

// viaProxy is a client of the test Redis through a proxy the test can cut.
func viaProxy(t *testing.T, rdb *redis.Client) (*redis.Client, *netproxy.Proxy) {
	t.Helper()
	proxy := netproxy.Start(t, rdb.Options().Addr)
	opt := *rdb.Options()
	opt.Addr = proxy.Addr()
	opt.MaxRetries = -1
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, time.Second, time.Second
	c := redis.NewClient(&opt)
	t.Cleanup(func() { _ = c.Close() })
	return c, proxy
}

func waitInstances(t *testing.T, want int, ls ...*Limiter) {
	t.Helper()
	for _, l := range ls {
		testkit.Eventually(t, 10*time.Second, fmt.Sprintf("an instance count of %d", want), func() bool { return l.Instances() == want })
	}
}

// Two instances learn from Redis that they are two; when Redis goes away
// each admits its half of the limit locally, so together they admit the
// limit and not twice it.
func TestFallbackAdmitsEachInstancesShare(t *testing.T) {
	rdb := testRedis(t)
	ns := testNamespace(t, rdb)
	p := Policy{Name: "auth", Limit: 10, Window: time.Minute}
	var ls []*Limiter
	var proxies []*netproxy.Proxy
	for range 2 {
		c, proxy := viaProxy(t, rdb)
		l := New(Options{Policies: map[string]Policy{GroupAuth: p}, Redis: c, Namespace: ns,
			RedisTimeout: 300 * time.Millisecond, Cooldown: time.Minute, Heartbeat: 50 * time.Millisecond})
		l.Start(context.Background())
		t.Cleanup(l.Close)
		ls, proxies = append(ls, l), append(proxies, proxy)
	}
	waitInstances(t, 2, ls...)

	for _, proxy := range proxies {
		proxy.SetCut(true)
	}
	ctx := context.Background()
	total := 0
	for i, l := range ls {
		admitted := 0
		for range 20 {
			if l.Allow(ctx, "ip:203.0.113.7", p).Allowed {
				admitted++
			}
		}
		if admitted != p.Limit/2 {
			t.Fatalf("instance %d admitted %d with Redis down, want its share %d", i, admitted, p.Limit/2)
		}
		if l.Mode() != "local" || l.Instances() != 2 {
			t.Fatalf("instance %d: mode %s, instances %d; want local and the last count 2", i, l.Mode(), l.Instances())
		}
		total += admitted
	}
	if total > p.Limit {
		t.Fatalf("%d admitted by two instances, above the limit %d", total, p.Limit)
	}
}

// An instance that stops leaves the count at once; one that vanishes
// ages out; without Redis (or before Start) an instance counts alone.
func TestInstanceCountFollowsMembers(t *testing.T) {
	rdb := testRedis(t)
	ns := testNamespace(t, rdb)
	opts := Options{Redis: rdb, Namespace: ns, Heartbeat: 50 * time.Millisecond}
	a, b, c := New(opts), New(opts), New(opts)
	if a.Instances() != 1 || New(Options{}).Instances() != 1 {
		t.Fatal("before counting an instance must count itself alone")
	}
	for _, l := range []*Limiter{a, b, c} {
		l.Start(context.Background())
	}
	t.Cleanup(a.Close)
	waitInstances(t, 3, a, b, c)
	b.Close() // leaves
	waitInstances(t, 2, a, c)

	// A member that stops heartbeating without leaving (a crash) counts
	// until three heartbeats have passed without it. Its last heartbeat is
	// dated 2 s ahead so a slow round cannot miss it before it ages out.
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := rdb.ZAdd(context.Background(), ns+":ratelimit:instances", redis.Z{Score: float64(now.Add(2 * time.Second).UnixMilli()), Member: "crashed"}).Err(); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, 3, a)
	waitInstances(t, 2, a)
}

func TestShareRoundsDownToAtLeastOne(t *testing.T) {
	for _, tc := range []struct{ limit, n, want int }{{10, 1, 10}, {10, 2, 5}, {10, 3, 3}, {10, 0, 10}, {5, 10, 1}, {1, 2, 1}} {
		if got := share(Policy{Limit: tc.limit}, tc.n).Limit; got != tc.want {
			t.Errorf("share(%d, %d) = %d, want %d", tc.limit, tc.n, got, tc.want)
		}
	}
}
