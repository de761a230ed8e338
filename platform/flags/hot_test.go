package flags

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// memSource is the flag table in memory (the runtime's view of flagstore).
type memSource struct {
	mu   sync.Mutex
	rows map[string]Stored
}

func (m *memSource) All(context.Context) ([]Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Stored, 0, len(m.rows))
	for _, r := range m.rows {
		out = append(out, r)
	}
	return out, nil
}

func (m *memSource) Fingerprint(context.Context) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum int64
	for _, r := range m.rows {
		sum += r.Version
	}
	return int64(len(m.rows)), sum, nil
}

func (m *memSource) SeedMissing(_ context.Context, rows []Stored) error {
	for _, r := range rows {
		if _, ok := m.rows[r.Key]; !ok {
			m.put(r.Key, r.Definition)
		}
	}
	return nil
}

func (m *memSource) put(key, def string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rows[key]
	m.rows[key] = Stored{Key: key, Definition: def, Version: r.Version + 1}
}

const (
	onDef       = `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`
	offDef      = `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`
	disabledDef = `{"state":"DISABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`
	adminsDef   = `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off","targeting":{"if":[{"==":[{"var":"role"},"admin"]},"on","off"]}}`
)

// newHotFlags starts a Flags over src and counts the evaluations that
// reach the provider.
func newHotFlags(t *testing.T, src *memSource, reg *prometheus.Registry) (*Flags, *atomic.Int64) {
	t.Helper()
	f, err := New(context.Background(), Options{Source: src, Registerer: reg, Domain: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	var reached atomic.Int64
	counted := f.provider.observe
	f.provider.observe = func(r Result) { reached.Add(1); counted(r) }
	return f, &reached
}

func TestStaticBooleanIsEvaluatedOncePerConfiguration(t *testing.T) {
	src := &memSource{rows: map[string]Stored{}}
	src.put("t.static", onDef)
	reg := prometheus.NewRegistry()
	f, reached := newHotFlags(t, src, reg)
	ctx := context.Background()

	for range 100 {
		if !f.Bool(ctx, "t.static", false) {
			t.Fatal("t.static: want true")
		}
	}
	if n := reached.Load(); n != 1 {
		t.Fatalf("provider evaluated %d times for 100 reads of a static flag, want 1", n)
	}
	if n := testutil.ToFloat64(f.metrics.evaluations.WithLabelValues("t.static", "on", "STATIC")); n != 100 {
		t.Fatalf("flag_evaluations_total = %v, want 100 (remembered answers count too)", n)
	}

	// A new configuration drops every remembered answer.
	src.put("t.static", offDef)
	if err := f.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if f.Bool(ctx, "t.static", true) {
		t.Fatal("t.static after the change: want false")
	}
	if n := reached.Load(); n != 2 {
		t.Fatalf("provider evaluated %d times, want 2 (once per configuration)", n)
	}
}

func TestRememberedAnswersKeepDefaultsAndTargeting(t *testing.T) {
	src := &memSource{rows: map[string]Stored{}}
	src.put("t.disabled", disabledDef)
	src.put("t.admins", adminsDef)
	f, reached := newHotFlags(t, src, prometheus.NewRegistry())
	ctx := context.Background()
	admin := WithAttributes(ctx, "u1", "admin", "10.0.0.1")
	customer := WithAttributes(ctx, "u2", "customer", "10.0.0.2")

	// A disabled flag answers the caller's default, whichever it is.
	for range 3 {
		if !f.Bool(ctx, "t.disabled", true) || f.Bool(ctx, "t.disabled", false) {
			t.Fatal("disabled flag must answer the caller's default")
		}
	}
	// Targeting depends on the caller: never remembered.
	before := reached.Load()
	for range 5 {
		if !f.Bool(admin, "t.admins", false) || f.Bool(customer, "t.admins", true) {
			t.Fatal("targeted flag answered the wrong caller")
		}
	}
	if n := reached.Load() - before; n != 10 {
		t.Fatalf("targeted flag reached the provider %d times for 10 reads, want 10", n)
	}
	// An unknown key is not remembered either (and answers the default).
	if !f.Bool(ctx, "t.unknown", true) {
		t.Fatal("unknown flag must answer the default")
	}
}
