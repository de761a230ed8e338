package flags

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// ProviderName is what the provider reports in its metadata and events.
const ProviderName = "productapi-flags"

// row is one stored flag with its bookkeeping.
type row struct {
	flag      *compiled
	version   int64
	updatedAt time.Time
	updatedBy string
}

// snapshot is an immutable view of every flag; it is swapped atomically.
type snapshot struct {
	flags map[string]*compiled
	rows  map[string]row
	// fingerprint is (number of rows, sum of row versions) as last read
	// from the database: it changes whenever any row changes.
	count, versionSum int64
	// hot remembers answers of static boolean flags (hot.go).
	hot hotBools
}

func emptySnapshot() *snapshot {
	return &snapshot{flags: map[string]*compiled{}, rows: map[string]row{}}
}

// Provider is an OpenFeature provider serving flagd definitions from an
// in-memory snapshot. It implements openfeature.FeatureProvider,
// StateHandler and EventHandler (PROVIDER_CONFIGURATION_CHANGED with the
// changed keys whenever a refresh changes something).
type Provider struct {
	snap   atomic.Pointer[snapshot]
	events chan openfeature.Event
	now    func() time.Time
	log    *slog.Logger
	// observe counts an evaluation (metrics); may be nil.
	observe func(r Result)
}

var (
	_ openfeature.FeatureProvider = (*Provider)(nil)
	_ openfeature.StateHandler    = (*Provider)(nil)
	_ openfeature.EventHandler    = (*Provider)(nil)
)

func newProvider(log *slog.Logger, now func() time.Time) *Provider {
	p := &Provider{events: make(chan openfeature.Event, 64), now: now, log: log}
	p.snap.Store(emptySnapshot())
	return p
}

// Metadata names the provider.
func (p *Provider) Metadata() openfeature.Metadata { return openfeature.Metadata{Name: ProviderName} }

// Hooks: none.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// Init is a no-op: Flags loads the snapshot before registering the provider.
func (p *Provider) Init(openfeature.EvaluationContext) error { return nil }

// Shutdown is a no-op: Flags.Close stops the refresh loops.
func (p *Provider) Shutdown() {}

// EventChannel delivers configuration-changed events to the SDK.
func (p *Provider) EventChannel() <-chan openfeature.Event { return p.events }

// emitChanged tells the SDK which flags changed. It never blocks: if the
// SDK is not reading (provider not registered yet), the event is dropped.
func (p *Provider) emitChanged(keys []string) {
	ev := openfeature.Event{ProviderName: ProviderName, EventType: openfeature.ProviderConfigChange,
		ProviderEventDetails: openfeature.ProviderEventDetails{Message: fmt.Sprintf("%d flag(s) changed", len(keys)), FlagChanges: keys}}
	select {
	case p.events <- ev:
	default:
		p.log.Warn("flags: configuration-changed event dropped (event channel full)", "flags", keys)
	}
}

// Evaluate resolves key without typing the value (OFREP uses it).
func (p *Provider) Evaluate(key string, flat openfeature.FlattenedContext) Result {
	r := p.snap.Load().evaluate(key, flat, p.now())
	if p.observe != nil {
		p.observe(r)
	}
	return r
}

// Keys lists every flag of the snapshot, sorted (OFREP's bulk evaluation).
func (p *Provider) Keys() []string {
	return slices.Sorted(maps.Keys(p.snap.Load().flags))
}

func detail(r Result) openfeature.ProviderResolutionDetail {
	d := openfeature.ProviderResolutionDetail{Reason: r.Reason, Variant: r.Variant, FlagMetadata: openfeature.FlagMetadata(r.Metadata)}
	switch r.ErrorCode {
	case "":
	case openfeature.FlagNotFoundCode:
		d.ResolutionError = openfeature.NewFlagNotFoundResolutionError(r.ErrorMessage)
	case openfeature.TypeMismatchCode:
		d.ResolutionError = openfeature.NewTypeMismatchResolutionError(r.ErrorMessage)
	case openfeature.ParseErrorCode:
		d.ResolutionError = openfeature.NewParseErrorResolutionError(r.ErrorMessage)
	default:
		d.ResolutionError = openfeature.NewGeneralResolutionError(r.ErrorMessage)
	}
	return d
}

func mismatch(r Result, want string) Result {
	return Result{Key: r.Key, Reason: openfeature.ErrorReason, ErrorCode: openfeature.TypeMismatchCode,
		ErrorMessage: fmt.Sprintf("flag %q is %s, not %s", r.Key, r.kind, want), Metadata: r.Metadata}
}

// typed resolves key and converts the value with conv; errors, disabled
// flags and type mismatches return def.
func typed[T any](p *Provider, key string, def T, flat openfeature.FlattenedContext, want string, conv func(any) (T, bool)) openfeature.GenericResolutionDetail[T] {
	r := p.snap.Load().evaluate(key, flat, p.now())
	value := def
	if r.Value != nil {
		if v, ok := conv(r.Value); ok {
			value = v
		} else {
			r = mismatch(r, want)
		}
	}
	if p.observe != nil {
		p.observe(r)
	}
	return openfeature.GenericResolutionDetail[T]{Value: value, ProviderResolutionDetail: detail(r)}
}

// BooleanEvaluation resolves a boolean flag.
func (p *Provider) BooleanEvaluation(_ context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	return typed(p, flag, def, flat, "boolean", func(v any) (bool, bool) { b, ok := v.(bool); return b, ok })
}

// StringEvaluation resolves a string flag.
func (p *Provider) StringEvaluation(_ context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	return typed(p, flag, def, flat, "string", func(v any) (string, bool) { s, ok := v.(string); return s, ok })
}

// FloatEvaluation resolves a number flag.
func (p *Provider) FloatEvaluation(_ context.Context, flag string, def float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	return typed(p, flag, def, flat, "number", func(v any) (float64, bool) { f, ok := v.(float64); return f, ok })
}

// IntEvaluation resolves a number flag whose variants are integers.
func (p *Provider) IntEvaluation(_ context.Context, flag string, def int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	return typed(p, flag, def, flat, "integer", func(v any) (int64, bool) {
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	})
}

// ObjectEvaluation resolves any flag as its JSON value.
func (p *Provider) ObjectEvaluation(_ context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	return typed(p, flag, def, flat, "object", func(v any) (any, bool) { return v, true })
}
