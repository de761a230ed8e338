package cache

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"example.com/productapi/platform/testkit"
)

// gather returns metric values keyed like `name{label=value,...}` (labels
// in the registry's sorted order).
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetName() != "cache" {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	dead, err := NewRedisClient("redis://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dead.Close() })

	// Two caches with the same namespace, each on its own registry, as two
	// components of one test process would have.
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, err := New(Config{Namespace: "same", L1MaxEntries: 1}, nil, nil, regA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Config{Namespace: "same"}, dead, nil, regB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, k := range []string{"x", "x", "y"} {
		if _, err := a.GetOrLoad(ctx, k, constLoader("v")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range breakerTrips + 2 {
		_, _ = b.GetOrLoad(ctx, string(rune('a'+i)), constLoader("v"))
	}

	cases := []struct {
		reg  *prometheus.Registry
		name string
		want float64
	}{
		{regA, `cache_requests_total{level=l1,result=hit}`, 1},
		{regA, `cache_requests_total{level=l1,result=miss}`, 2},
		{regA, `cache_loads_total{result=found}`, 2},
		{regA, `cache_evictions_total{}`, 1},
		{regA, `cache_l1_entries{}`, 1},
		{regA, `cache_l2_breaker_state{}`, 0},
		{regA, `cache_stale_served_total{}`, 0},
		{regB, `cache_l2_breaker_state{}`, 2},
		{regB, `cache_errors_total{level=l2}`, breakerTrips},
		// A miss whose GET failed skips the SET: 5 misses open the breaker,
		// the GETs of the next 2 are skipped.
		{regB, `cache_l2_skipped_total{}`, 2},
		{regB, `cache_requests_total{level=l2,result=hit}`, 0},
	}
	got := map[*prometheus.Registry]map[string]float64{regA: gather(t, regA), regB: gather(t, regB)}
	for _, tc := range cases {
		if v, ok := got[tc.reg][tc.name]; !ok || v != tc.want {
			t.Errorf("%s = %v (present %v), want %v", tc.name, v, ok, tc.want)
		}
	}

	// One registry, two namespaces: the constant label keeps them apart.
	shared := prometheus.NewRegistry()
	for _, ns := range []string{"one", "two"} {
		c, err := New(Config{Namespace: ns}, nil, nil, shared)
		if err != nil {
			t.Fatalf("second cache on a shared registry: %v", err)
		}
		defer c.Close()
	}
	if _, err := New(Config{Namespace: "one"}, nil, nil, shared); err == nil {
		t.Fatal("a duplicate namespace on one registry must be refused")
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Namespace: "n"}, true},
		{"no namespace", Config{}, false},
		{"negative max", Config{Namespace: "n", L1MaxEntries: -1}, false},
		{"jitter 100%", Config{Namespace: "n", Jitter: 1}, false},
		{"features off", Config{Namespace: "n", StaleFor: -1, NegativeTTL: -1, Jitter: -1}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg, nil, nil, nil)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if c != nil {
				_ = c.Close()
			}
		})
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 10 {
		c, err := New(Config{Namespace: "n"}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Set(context.Background(), "k", []byte("v"))
		_ = c.Close()
	}
	testkit.Eventually(t, time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= before
	})
}
