package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// levels runs a case against an L1-only cache and one backed by Redis.
func levels(t *testing.T) []struct {
	name string
	rdb  func(t *testing.T) redis.UniversalClient
} {
	t.Helper()
	return []struct {
		name string
		rdb  func(t *testing.T) redis.UniversalClient
	}{
		{"l1only", func(*testing.T) redis.UniversalClient { return nil }},
		{"redis", func(t *testing.T) redis.UniversalClient { return newRedis(t) }},
	}
}

func TestL1HitAndMiss(t *testing.T) {
	for _, lv := range levels(t) {
		t.Run(lv.name, func(t *testing.T) {
			c := newCache(t, Config{}, lv.rdb(t))
			ctx := context.Background()
			var calls int64
			var mu sync.Mutex
			steps := []struct {
				key, wantSource string
				wantCalls       int64
			}{
				{"a", SourceLoad, 1},
				{"a", SourceL1, 1},
				{"b", SourceLoad, 2},
				{"a", SourceL1, 2},
			}
			for i, s := range steps {
				r, err := c.GetOrLoad(ctx, s.key, loader("v-"+s.key, &calls, &mu))
				if err != nil || !r.Found || string(r.Value) != "v-"+s.key || r.Source != s.wantSource || calls != s.wantCalls {
					t.Fatalf("step %d: got %+v err=%v calls=%d, want source %s calls %d", i, r, err, calls, s.wantSource, s.wantCalls)
				}
			}
			if _, ok := c.Get(ctx, "missing"); ok {
				t.Fatal("Get of a never-stored key reported a hit")
			}
			if st := c.Stats(); st.L1Hits != 2 || st.L1Misses != 3 || st.LoadsFound != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestL2FillsL1(t *testing.T) {
	rdb := newRedis(t)
	ns := testNamespace(t)
	a := newCache(t, Config{Namespace: ns}, rdb)
	b := newCache(t, Config{Namespace: ns}, rdb)
	ctx := context.Background()
	var calls int64
	var mu sync.Mutex
	if _, err := a.GetOrLoad(ctx, "k", loader("v", &calls, &mu)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // so the L2 hit has a visible age
	for i, want := range []string{SourceL2, SourceL1} {
		r, err := b.GetOrLoad(ctx, "k", loader("other", &calls, &mu))
		if err != nil || string(r.Value) != "v" || r.Source != want || r.Age <= 0 {
			t.Fatalf("b read %d: %+v err=%v, want %s with the age of a's load", i, r, err, want)
		}
	}
	if calls != 1 {
		t.Fatalf("loader calls = %d, want 1 (b must use L2)", calls)
	}
	if st := b.Stats(); st.L2Hits != 1 || st.L1Hits != 1 {
		t.Fatalf("b stats %+v", st)
	}
}

func TestNegativeCaching(t *testing.T) {
	for _, lv := range levels(t) {
		t.Run(lv.name, func(t *testing.T) {
			// 1 s: the L1 TTL starts before the L2 write, so it must outlast a
			// slow Redis round trip for calls 2 and 3 to come from L1.
			c := newCache(t, Config{NegativeTTL: time.Second, Jitter: -1}, lv.rdb(t))
			ctx := context.Background()
			var calls atomic.Int64
			notFound := func(context.Context) ([]byte, bool, error) {
				calls.Add(1)
				return []byte("ignored"), false, nil
			}
			for i, want := range []struct {
				source string
				calls  int64
			}{{SourceLoad, 1}, {SourceL1, 1}, {SourceL1, 1}} {
				r, err := c.GetOrLoad(ctx, "gone", notFound)
				if err != nil || r.Found || r.Value != nil || r.Source != want.source || calls.Load() != want.calls {
					t.Fatalf("call %d: %+v err=%v calls=%d", i, r, err, calls.Load())
				}
			}
			time.Sleep(1200 * time.Millisecond)
			if _, err := c.GetOrLoad(ctx, "gone", notFound); err != nil || calls.Load() != 2 {
				t.Fatalf("after NegativeTTL: err=%v calls=%d, want a reload", err, calls.Load())
			}
			if st := c.Stats(); st.LoadsNotFound != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestJitterStaysInBounds(t *testing.T) {
	cases := []struct {
		d    time.Duration
		frac float64
	}{
		{30 * time.Second, 0.1},
		{5 * time.Second, 0.5},
		{time.Millisecond, 0.1},
		{time.Minute, 0}, // off
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s±%.0f%%", tc.d, tc.frac*100), func(t *testing.T) {
			lo := time.Duration(float64(tc.d) * (1 - tc.frac))
			hi := time.Duration(float64(tc.d) * (1 + tc.frac))
			seen := map[time.Duration]bool{}
			for range 2000 {
				got := jitter(tc.d, tc.frac)
				if got < lo || got > hi {
					t.Fatalf("jitter(%s, %v) = %s, outside [%s, %s]", tc.d, tc.frac, got, lo, hi)
				}
				seen[got] = true
			}
			if tc.frac > 0 && len(seen) < 100 {
				t.Fatalf("only %d distinct TTLs: not jittered", len(seen))
			}
		})
	}

	t.Run("redis PTTL", func(t *testing.T) {
		rdb := newRedis(t)
		c := newCache(t, Config{L2TTL: 10 * time.Second, Jitter: 0.1}, rdb)
		ctx := context.Background()
		for i := range 50 {
			key := fmt.Sprint("j", i)
			c.Set(ctx, key, []byte("x"))
			ttl := rdb.PTTL(ctx, c.dataKey(key)).Val()
			// 9 s is the jitter's floor; 8 s leaves room for a stall between
			// the SET and the PTTL.
			if ttl < 8*time.Second || ttl > 11*time.Second {
				t.Fatalf("PTTL %s outside 10s±10%%", ttl)
			}
		}
	})
}

func TestL1StaysBounded(t *testing.T) {
	const max = 100
	cases := []struct {
		name          string
		keys          int // distinct keys, written round-robin
		writes        int
		wantEvictions uint64
	}{
		{"2x distinct keys", 2 * max, 2 * max, max},
		{"overwrites only", 10, 50 * max, 0}, // tombstones must not grow the queue
		{"churn", 10 * max, 20 * max, 20*max - max},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t, Config{L1MaxEntries: max}, nil)
			ctx := context.Background()
			for i := range tc.writes {
				c.Set(ctx, fmt.Sprint("k", i%tc.keys), []byte("v"))
				if n := c.l1.len(); n > max {
					t.Fatalf("after %d writes L1 holds %d > %d", i+1, n, max)
				}
			}
			st := c.Stats()
			if st.Evictions != tc.wantEvictions {
				t.Fatalf("evictions = %d, want %d", st.Evictions, tc.wantEvictions)
			}
			if q := len(c.l1.queue) - c.l1.head; q > 2*max+1024 {
				t.Fatalf("eviction queue holds %d refs", q)
			}
			// FIFO keeps the newest writes.
			last := fmt.Sprint("k", (tc.writes-1)%tc.keys)
			if _, ok := c.Get(ctx, last); !ok {
				t.Fatalf("newest key %s was evicted", last)
			}
		})
	}
}

func TestStampedeLoadsOnce(t *testing.T) {
	for _, lv := range levels(t) {
		t.Run(lv.name, func(t *testing.T) {
			c := newCache(t, Config{}, lv.rdb(t))
			var calls atomic.Int64
			slow := func(ctx context.Context) ([]byte, bool, error) {
				calls.Add(1)
				time.Sleep(100 * time.Millisecond)
				return []byte("v"), true, nil
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			for range 100 {
				wg.Go(func() {
					<-start
					r, err := c.GetOrLoad(context.Background(), "hot", slow)
					if err == nil && string(r.Value) != "v" {
						err = fmt.Errorf("value %q", r.Value)
					}
					errs <- err
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("loader ran %d times for 100 concurrent callers, want 1", n)
			}
		})
	}
}

func TestStaleIfError(t *testing.T) {
	errDB := errors.New("database down")
	cases := []struct {
		name      string
		staleFor  time.Duration
		wantStale bool
	}{
		{"within StaleFor serves stale", time.Minute, true},
		{"stale disabled returns error", -1, false},
	}
	for _, lv := range levels(t) {
		for _, tc := range cases {
			t.Run(lv.name+"/"+tc.name, func(t *testing.T) {
				c := newCache(t, Config{L1TTL: 50 * time.Millisecond, L2TTL: 50 * time.Millisecond,
					StaleFor: tc.staleFor, Jitter: -1}, lv.rdb(t))
				ctx := context.Background()
				if _, err := c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, bool, error) {
					return []byte("good"), true, nil
				}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(120 * time.Millisecond) // expired in both levels
				r, err := c.GetOrLoad(ctx, "k", func(context.Context) ([]byte, bool, error) {
					return nil, false, errDB
				})
				if !tc.wantStale {
					if !errors.Is(err, errDB) {
						t.Fatalf("got %+v err=%v, want the load error", r, err)
					}
					return
				}
				if err != nil || !r.Stale || !r.Found || string(r.Value) != "good" || r.Source != SourceStale || r.Age < 100*time.Millisecond {
					t.Fatalf("got %+v err=%v, want the stale value", r, err)
				}
				if st := c.Stats(); st.StaleServed != 1 || st.LoadErrors != 1 {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
}

func TestLoaderPanicIsAnError(t *testing.T) {
	c := newCache(t, Config{}, nil)
	_, err := c.GetOrLoad(context.Background(), "k", func(context.Context) ([]byte, bool, error) {
		panic("boom")
	})
	if err == nil {
		t.Fatal("want an error from a panicking loader")
	}
}

func TestCallerCancelDoesNotCancelSharedLoad(t *testing.T) {
	c := newCache(t, Config{}, nil)
	release := make(chan struct{})
	var calls atomic.Int64
	slow := func(ctx context.Context) ([]byte, bool, error) {
		calls.Add(1)
		select {
		case <-release:
			return []byte("v"), true, ctx.Err()
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.GetOrLoad(ctx, "k", slow); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	done := make(chan Result)
	go func() {
		r, _ := c.GetOrLoad(context.Background(), "k", slow)
		done <- r
	}()
	time.Sleep(10 * time.Millisecond)
	close(release)
	if r := <-done; string(r.Value) != "v" || calls.Load() != 1 {
		t.Fatalf("got %+v after %d loads, want the first load's value", r, calls.Load())
	}
}

func TestL2Switch(t *testing.T) {
	rdb := newRedis(t)
	var on atomic.Bool
	c := newCache(t, Config{L2Enabled: func(context.Context) bool { return on.Load() }}, rdb)
	ctx := context.Background()
	var calls int64
	var mu sync.Mutex
	if _, err := c.GetOrLoad(ctx, "k", loader("v", &calls, &mu)); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, c.dataKey("k")).Val(); n != 0 {
		t.Fatal("L2 filled while switched off")
	}
	on.Store(true)
	c.Set(ctx, "k2", []byte("v2"))
	on.Store(false)
	if err := c.Invalidate(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, c.dataKey("k2")).Val(); n != 0 {
		t.Fatal("Invalidate must reach L2 even while L2 reads are switched off")
	}
}

func TestVersionWithoutRedis(t *testing.T) {
	c := newCache(t, Config{}, nil)
	ctx := context.Background()
	for want := range int64(4) {
		if got := c.Version(ctx, "lists"); got != want {
			t.Fatalf("Version = %d, want %d", got, want)
		}
		if err := c.BumpVersion(ctx, "lists"); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Version(ctx, "other"); got != 0 {
		t.Fatalf("an untouched name is at %d, want 0", got)
	}
}
