package cache

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"example.com/productapi/platform/testkit"
)

// twoInstances are two Caches on separate Redis clients sharing a namespace,
// like two replicas of the API.
func twoInstances(t *testing.T) (a, b *Cache) {
	t.Helper()
	ns := testNamespace(t)
	// A generous ack budget: on a loaded test machine a peer may take a
	// while to confirm, and the tests below assert there is no window.
	a = newCache(t, Config{Namespace: ns, AckTimeout: 5 * time.Second}, newRedis(t))
	b = newCache(t, Config{Namespace: ns, AckTimeout: 5 * time.Second}, newRedis(t))
	if !a.Stats().Subscribed || !b.Stats().Subscribed {
		t.Fatal("Start returned without a subscription to a live Redis")
	}
	return a, b
}

func TestCrossInstanceInvalidation(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		write func(a *Cache, key string, source *atomic.Value) error
	}{
		{"Invalidate", func(a *Cache, key string, source *atomic.Value) error {
			source.Store("v2") // the database write, then the cache invalidation
			return a.Invalidate(ctx, key)
		}},
		{"Set", func(a *Cache, key string, source *atomic.Value) error {
			source.Store("v2")
			a.Set(ctx, key, []byte("v2"))
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := twoInstances(t)
			var source atomic.Value
			source.Store("v1")
			load := func(context.Context) ([]byte, bool, error) {
				return []byte(source.Load().(string)), true, nil
			}
			for _, c := range []*Cache{a, b} {
				if _, err := c.GetOrLoad(ctx, "K", load); err != nil {
					t.Fatal(err)
				}
				if r, _ := c.GetOrLoad(ctx, "K", load); r.Source != SourceL1 || string(r.Value) != "v1" {
					t.Fatalf("setup: %+v, want v1 from L1", r)
				}
			}
			if err := tc.write(a, "K", &source); err != nil {
				t.Fatal(err)
			}
			// No window: the write returned only after b confirmed.
			if r, ok := b.Get(ctx, "K"); ok && string(r.Value) == "v1" {
				t.Fatalf("%s: b still serves the old value after a's call returned", tc.name)
			}
			if a.Stats().AckTimeouts != 0 {
				t.Fatalf("acks timed out: %+v", a.Stats())
			}
			if r, err := b.GetOrLoad(ctx, "K", load); err != nil || string(r.Value) != "v2" {
				t.Fatalf("b after invalidation: %+v err=%v, want v2", r, err)
			}
		})
	}
}

func TestCrossInstanceVersionBump(t *testing.T) {
	ctx := context.Background()
	a, b := twoInstances(t)
	v0a, v0b := a.Version(ctx, "lists"), b.Version(ctx, "lists")
	if v0a != v0b {
		t.Fatalf("instances disagree before any bump: %d vs %d", v0a, v0b)
	}
	for i := range 3 {
		before := b.Version(ctx, "lists") // cached in b's L1 for L1TTL
		if err := a.BumpVersion(ctx, "lists"); err != nil {
			t.Fatal(err)
		}
		if got := a.Version(ctx, "lists"); got != before+1 {
			t.Fatalf("bump %d: a sees %d, want %d at once", i, got, before+1)
		}
		window := testkit.Eventually(t, 2*time.Second, "b sees the bump", func() bool {
			return b.Version(ctx, "lists") == before+1
		})
		t.Logf("bump %d: b saw version %d %s after a's call returned", i, before+1, window)
	}
}

func TestResubscribeDropsL1(t *testing.T) {
	rdb := newRedis(t)
	p := startProxy(t, rdb.Options().Addr)
	via, err := NewRedisClient("redis://" + p.Addr() + "/" + strconv.Itoa(rdb.Options().DB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = via.Close() })
	c := newCache(t, Config{BreakerCooldown: 100 * time.Millisecond}, via)
	ctx := context.Background()
	c.Set(ctx, "k", []byte("v"))
	p.SetCut(true) // the subscription breaks: messages may be missed from here
	testkit.Eventually(t, 2*time.Second, "subscriber notices", func() bool { return !c.Stats().Subscribed })
	c.Set(ctx, "k2", []byte("v")) // cached while deaf to peers
	p.SetCut(false)
	testkit.Eventually(t, 5*time.Second, "subscriber reconnects", func() bool { return c.Stats().Subscribed })
	if r, ok := c.Get(ctx, "k2"); ok && r.Source == SourceL1 {
		t.Fatal("an entry cached while unsubscribed survived the resubscription")
	}
}

// The subscriber's keepalive must neither drop a quiet, healthy connection
// nor keep trusting one that silently lost its peer.
func TestSubscriptionKeepalive(t *testing.T) {
	rdb := newRedis(t)
	p := startProxy(t, rdb.Options().Addr)
	via, err := NewRedisClient("redis://" + p.Addr() + "/" + strconv.Itoa(rdb.Options().DB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = via.Close() })
	ns := testNamespace(t)
	a := newCache(t, Config{Namespace: ns}, rdb)
	b, err := New(Config{Namespace: ns, RedisTimeout: time.Second}, via, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	// Each round allows healthEvery for the Pong through the proxy: 300 ms
	// leaves room for a loaded machine running -race.
	b.healthEvery = 300 * time.Millisecond
	b.Start(context.Background())
	ctx := context.Background()

	time.Sleep(1500 * time.Millisecond) // idle through several ping rounds
	if st := b.Stats(); !st.Subscribed || st.PubSubErrors != 0 {
		t.Fatalf("quiet link dropped: %+v", st)
	}
	b.Set(ctx, "K", []byte("v1"))
	if err := a.Invalidate(ctx, "K"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Second, "b hears a after idling", func() bool { _, ok := b.Get(ctx, "K"); return !ok })

	p.SetFrozen(true)
	took := testkit.Eventually(t, 5*time.Second, "b notices the dead link", func() bool { return !b.Stats().Subscribed })
	t.Logf("silent link loss detected after %s (keepalive %s)", took, b.healthEvery)
}

// A subscriber that never confirms (a stuck or foreign peer) delays a write
// by AckTimeout at most, and the miss is counted.
func TestUnconfirmedInvalidationIsBounded(t *testing.T) {
	ctx := context.Background()
	ns := testNamespace(t)
	a := newCache(t, Config{Namespace: ns, AckTimeout: 150 * time.Millisecond}, newRedis(t))
	silent := newRedis(t).Subscribe(ctx, ns+":invalidate")
	t.Cleanup(func() { _ = silent.Close() })
	if _, err := silent.Receive(ctx); err != nil { // subscription confirmation
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.Invalidate(ctx, "K"); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took < 100*time.Millisecond || took > 3*time.Second {
		t.Fatalf("Invalidate took %s with a silent peer, want about the 150ms AckTimeout", took)
	}
	if got := a.Stats().AckTimeouts; got != 1 {
		t.Fatalf("AckTimeouts = %d, want 1", got)
	}
}
