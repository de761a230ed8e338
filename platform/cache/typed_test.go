package cache

import (
	"context"
	"testing"
)

type typedValue struct {
	Name string
	N    int
}

// A typed value round-trips through L2 as JSON, an L1 hit serves the
// decoded value without allocating, and "not found" stays a miss.
func TestTypedRoundTripsAndHitsWithoutDecoding(t *testing.T) {
	ctx := context.Background()
	rdb := newRedis(t)
	cfg := Config{Namespace: testNamespace(t)}
	writer, reader := NewTyped[typedValue](newCache(t, cfg, rdb)), NewTyped[typedValue](newCache(t, cfg, rdb))
	loads := 0
	load := func(context.Context) (typedValue, bool, error) { loads++; return typedValue{"a", 1}, true, nil }

	if r, err := writer.GetOrLoad(ctx, "k", load); err != nil || r.Value != (typedValue{"a", 1}) || r.Source != SourceLoad {
		t.Fatalf("load: %+v %v", r, err)
	}
	r, err := reader.GetOrLoad(ctx, "k", load)
	if err != nil || r.Value != (typedValue{"a", 1}) || r.Source != SourceL2 || loads != 1 {
		t.Fatalf("L2 hit on a second instance: %+v %v (loads %d)", r, err, loads)
	}
	if r, _ := reader.GetOrLoad(ctx, "k", load); r.Source != SourceL1 || r.Value != (typedValue{"a", 1}) {
		t.Fatalf("L1 hit: %+v", r)
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = reader.GetOrLoad(ctx, "k", load) }); allocs != 0 {
		t.Errorf("an L1 hit allocates %v times, want 0", allocs)
	}

	missing := func(context.Context) (typedValue, bool, error) { return typedValue{}, false, nil }
	if r, err := writer.GetOrLoad(ctx, "gone", missing); err != nil || r.Found {
		t.Fatalf("not found: %+v %v", r, err)
	}
}
