package flags

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// A boolean flag without targeting answers the same for every caller until
// the provider's configuration changes, yet middleware reads several on
// every request (ratelimit.enabled first) and one OpenFeature evaluation
// costs about 18 allocations. So the first evaluation of such a flag goes
// through the SDK as always and its answer is remembered on the snapshot it
// was made against: a reload swaps the snapshot (the provider's
// configuration version), which drops every remembered answer at once.
// Flags with targeting are never remembered (their answer depends on the
// caller and the time).

// hotBool is one remembered answer. def is part of it because a disabled
// flag answers the caller's default; evaluations counts each answer in
// flag_evaluations_total as if it had been evaluated again.
type hotBool struct {
	def, value  bool
	evaluations prometheus.Counter
}

// hotBools holds a snapshot's remembered answers, by flag key.
type hotBools struct{ m sync.Map }

func (h *hotBools) lookup(key string, def bool) (bool, bool) {
	v, ok := h.m.Load(key)
	if !ok {
		return false, false
	}
	e := v.(*hotBool)
	if e.def != def {
		return false, false
	}
	e.evaluations.Inc()
	return e.value, true
}

func (h *hotBools) remember(key string, e *hotBool) { h.m.Store(key, e) }

// boolValue is Bool's evaluation: remembered when the flag is static.
func (f *Flags) boolValue(ctx context.Context, key string, def bool) bool {
	snap := f.provider.snap.Load()
	c, static := snap.flags[key]
	static = static && c.rule == nil
	if static {
		if v, ok := snap.hot.lookup(key, def); ok {
			return v
		}
	}
	d, err := f.client.BooleanValueDetails(ctx, key, def, EvalContextFrom(ctx))
	if static && err == nil && d.ErrorCode == "" {
		// Stored on the snapshot loaded before evaluating: if a reload
		// raced the evaluation, the answer lands on the discarded snapshot,
		// never on a newer one.
		snap.hot.remember(key, &hotBool{def: def, value: d.Value,
			evaluations: f.metrics.evaluations.WithLabelValues(key, d.Variant, string(d.Reason))})
	}
	return d.Value
}
