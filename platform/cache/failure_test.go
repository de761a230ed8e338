package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"example.com/productapi/platform/testkit"
)

// callBudget is how long any call may take while Redis misbehaves: well
// under a second, generous because the machine is noisy.
const callBudget = 500 * time.Millisecond

func timed(t *testing.T, what string, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	f()
	d := time.Since(start)
	if d > callBudget {
		t.Fatalf("%s took %s, budget %s", what, d, callBudget)
	}
	return d
}

func constLoader(v string) Loader {
	return func(context.Context) ([]byte, bool, error) { return []byte(v), true, nil }
}

func TestDeadRedis(t *testing.T) {
	rdb, err := NewRedisClient("redis://127.0.0.1:1") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	var c *Cache
	timed(t, "New+Start", func() { c = newCache(t, Config{RedisTimeout: 100 * time.Millisecond}, rdb) })

	var slowest time.Duration
	for i := range 30 {
		key := fmt.Sprint("k", i)
		slowest = max(slowest, timed(t, "GetOrLoad", func() {
			r, err := c.GetOrLoad(ctx, key, constLoader("v"+key))
			if err != nil || string(r.Value) != "v"+key || r.Source != SourceLoad {
				t.Fatalf("GetOrLoad(%s) = %+v, %v; want the loader's value", key, r, err)
			}
		}))
	}
	t.Logf("slowest GetOrLoad with Redis dead: %s", slowest)
	if r, err := c.GetOrLoad(ctx, "k0", constLoader("other")); err != nil || r.Source != SourceL1 {
		t.Fatalf("L1 must keep working: %+v %v", r, err)
	}
	if c.L2Healthy() {
		t.Fatal("L2Healthy with a dead Redis")
	}
	st := c.Stats()
	if st.Breaker != "open" || st.L2Errors < breakerTrips || st.L2Skipped == 0 || st.Subscribed {
		t.Fatalf("stats %+v: want an open breaker, counted errors and skipped calls", st)
	}

	timed(t, "Invalidate", func() {
		if err := c.Invalidate(ctx, "k0"); !errors.Is(err, ErrL2Unavailable) {
			t.Fatalf("Invalidate err = %v, want ErrL2Unavailable", err)
		}
	})
	if _, ok := c.Get(ctx, "k0"); ok {
		t.Fatal("Invalidate must drop L1 even when Redis is down")
	}
	v0 := c.Version(ctx, "lists")
	timed(t, "BumpVersion", func() {
		if err := c.BumpVersion(ctx, "lists"); !errors.Is(err, ErrL2Unavailable) {
			t.Fatalf("BumpVersion err = %v, want ErrL2Unavailable", err)
		}
	})
	if v := c.Version(ctx, "lists"); v != v0+1 {
		t.Fatalf("version %d after a local bump from %d", v, v0)
	}
	if st := c.Stats(); st.PendingRedis != 2 {
		t.Fatalf("pending = %d, want the key and the bump queued", st.PendingRedis)
	}
}

func TestRedisDiesMidway(t *testing.T) {
	direct := newRedis(t)
	p := startProxy(t, direct.Options().Addr)
	via, err := NewRedisClient("redis://" + p.Addr() + "/" + strconv.Itoa(direct.Options().DB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = via.Close() })
	ns := testNamespace(t)
	c := newCache(t, Config{Namespace: ns, RedisTimeout: 100 * time.Millisecond, BreakerCooldown: 200 * time.Millisecond}, via)
	peer := newCache(t, Config{Namespace: ns}, direct) // a replica that never loses Redis
	ctx := context.Background()

	// Healthy: c reads what the peer stored.
	peer.Set(ctx, "before", []byte("from-peer"))
	peer.Set(ctx, "doomed", []byte("old"))
	if r, err := c.GetOrLoad(ctx, "before", constLoader("from-loader")); err != nil || r.Source != SourceL2 {
		t.Fatalf("healthy read: %+v %v, want an L2 hit", r, err)
	}
	v0 := c.Version(ctx, "lists")

	p.SetCut(true)
	var slowest time.Duration
	for i := range 20 {
		key := fmt.Sprint("during", i)
		slowest = max(slowest, timed(t, "GetOrLoad during outage", func() {
			r, err := c.GetOrLoad(ctx, key, constLoader("from-loader"))
			if err != nil || string(r.Value) != "from-loader" {
				t.Fatalf("read during outage: %+v %v", r, err)
			}
		}))
	}
	t.Logf("slowest read while Redis was cut: %s", slowest)
	if c.L2Healthy() {
		t.Fatal("breaker still closed after the cut")
	}
	// Writes during the outage: Redis and the peer cannot be told now.
	if err := c.Invalidate(ctx, "doomed"); !errors.Is(err, ErrL2Unavailable) {
		t.Fatalf("Invalidate during outage: %v", err)
	}
	if err := c.BumpVersion(ctx, "lists"); !errors.Is(err, ErrL2Unavailable) {
		t.Fatalf("BumpVersion during outage: %v", err)
	}

	p.SetCut(false)
	i := 0
	recovered := testkit.Eventually(t, 3*time.Second, "L2 used again", func() bool {
		i++
		key := fmt.Sprint("after", i)
		peer.Set(ctx, key, []byte("from-peer"))
		var r Result
		timed(t, "GetOrLoad during recovery", func() {
			var err error
			if r, err = c.GetOrLoad(ctx, key, constLoader("from-loader")); err != nil {
				t.Fatalf("read during recovery: %v", err)
			}
		})
		return r.Source == SourceL2
	})
	t.Logf("L2 hits again %s after restore (breaker cooldown 200ms)", recovered)
	// What Redis missed is replayed: the peer learns of both writes.
	testkit.Eventually(t, 3*time.Second, "invalidation replayed", func() bool {
		return direct.Exists(ctx, peer.dataKey("doomed")).Val() == 0
	})
	testkit.Eventually(t, 3*time.Second, "peer drops doomed", func() bool {
		_, ok := peer.Get(ctx, "doomed")
		return !ok
	})
	testkit.Eventually(t, 3*time.Second, "bump replayed", func() bool { return peer.Version(ctx, "lists") == v0+1 })
	if v := c.Version(ctx, "lists"); v != v0+1 {
		t.Fatalf("c's version went from %d to %d across the outage, want %d", v0, v, v0+1)
	}
	// The peer can see the bump before c has handled Redis's reply and
	// cleared its pending record, so wait for that too.
	testkit.Eventually(t, 3*time.Second, "nothing pending", func() bool { return c.L2Healthy() && c.Stats().PendingRedis == 0 })
}
