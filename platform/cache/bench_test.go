package cache

import (
	"context"
	"fmt"
	"testing"
)

func BenchmarkL1Hit(b *testing.B) {
	c := newCache(b, Config{}, nil)
	ctx := context.Background()
	load := constLoader("value")
	if _, err := c.GetOrLoad(ctx, "k", load); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := c.GetOrLoad(ctx, "k", load); r.Source != SourceL1 {
			b.Fatal(r.Source)
		}
	}
}

func BenchmarkL2Hit(b *testing.B) {
	c := newCache(b, Config{}, newRedis(b))
	ctx := context.Background()
	load := constLoader("value")
	c.Set(ctx, "k", make([]byte, 512))
	b.ReportAllocs()
	for b.Loop() {
		c.l1.delete("k") // force the L2 path
		if r, _ := c.GetOrLoad(ctx, "k", load); r.Source != SourceL2 {
			b.Fatal(r.Source)
		}
	}
}

// BenchmarkGetOrLoadParallel is the steady state of a busy instance: many
// goroutines over a working set that fits L1, backed by Redis.
func BenchmarkGetOrLoadParallel(b *testing.B) {
	c := newCache(b, Config{}, newRedis(b))
	ctx := context.Background()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	load := constLoader("value")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.GetOrLoad(ctx, keys[i%len(keys)], load); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
