package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Typed is the cache for values of one Go type T. L2 keeps a value as JSON;
// an L1 entry also keeps it decoded (once, on first use), so an L1 hit
// decodes nothing and allocates nothing beyond copying T.
type Typed[T any] struct{ c *Cache }

// NewTyped shares c (its levels, invalidation and metrics) for values of T.
func NewTyped[T any](c *Cache) *Typed[T] { return &Typed[T]{c: c} }

// TypedResult is Result with the value decoded.
type TypedResult[T any] struct {
	Value  T
	Found  bool
	Stale  bool
	Age    time.Duration
	Source string
}

// TypedLoader is Loader for values of T.
type TypedLoader[T any] func(ctx context.Context) (value T, found bool, err error)

// GetOrLoad is Cache.GetOrLoad for values of T.
func (t *Typed[T]) GetOrLoad(ctx context.Context, key string, load TypedLoader[T]) (TypedResult[T], error) {
	now := time.Now().UnixNano()
	if e, ok := t.c.l1.get(key); ok && e.fresh(now) {
		t.c.st.l1Hits.Add(1)
		return t.decode(e.result(now, SourceL1))
	}
	// The miss path repeats GetOrLoad's L1 probe: checking first keeps the
	// closure below (a heap allocation) off the hit path.
	res, err := t.c.GetOrLoad(ctx, key, func(ctx context.Context) ([]byte, bool, error) {
		v, found, err := load(ctx)
		if err != nil || !found {
			return nil, found, err
		}
		b, err := json.Marshal(v)
		return b, err == nil, err
	})
	if err != nil {
		return TypedResult[T]{}, err
	}
	return t.decode(res)
}

func (t *Typed[T]) decode(r Result) (TypedResult[T], error) {
	out := TypedResult[T]{Found: r.Found, Stale: r.Stale, Age: r.Age, Source: r.Source}
	if !r.Found {
		return out, nil
	}
	if r.entry != nil {
		if v, ok := r.entry.decoded.Load().(T); ok {
			out.Value = v
			return out, nil
		}
	}
	v := new(T) // on the heap, as json needs: kept off the hit path
	if err := json.Unmarshal(r.Value, v); err != nil {
		return TypedResult[T]{}, fmt.Errorf("cache: decode %T: %w", *v, err)
	}
	out.Value = *v
	if r.entry != nil {
		r.entry.decoded.Store(out.Value)
	}
	return out, nil
}
