package events

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"example.com/productapi/platform/db"
	"example.com/productapi/platform/testkit"
)

// seenCtx is what one handler run saw.
type seenCtx struct {
	sc      trace.SpanContext
	headers map[string]string
}

// traceCase appends one event inside a traced unit of work and one outside
// any trace, and checks that every consumer's handler ran in a consumer
// span continuing the appender's trace (and a fresh root for the other).
func traceCase(t *testing.T, d *db.DB, cfg Config) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg.TracerProvider = tp
	b := newBus(t, cfg)
	var mu sync.Mutex
	seen := map[string]seenCtx{} // consumer/event ID -> context
	record := func(consumer string) Handler {
		return func(ctx context.Context, e Event) error {
			mu.Lock()
			seen[consumer+"/"+e.ID] = seenCtx{trace.SpanContextFromContext(ctx), e.Headers}
			mu.Unlock()
			return nil
		}
	}
	b.Subscribe("traced-tx", []string{typPlaced}, record("traced-tx"))
	b.SubscribeWith("traced-remote", []string{typPlaced}, SubscribeOptions{}, record("traced-remote"))
	start(t, b)

	ctx, parent := tp.Tracer("test").Start(context.Background(), "POST /v1/orders")
	var traced Event
	if err := db.Transact(ctx, d.Gorm, func(ctx context.Context) (err error) {
		traced, err = b.Append(ctx, typPlaced, "k1", payload{1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	parent.End()
	plain, err := b.Append(context.Background(), typPlaced, "k2", payload{2})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Headers != nil {
		t.Fatalf("untraced append has headers %v", plain.Headers)
	}
	var stored string
	if err := d.Gorm.Raw(`SELECT headers FROM event_outbox WHERE id = ?`, traced.ID).Row().Scan(&stored); err != nil {
		t.Fatal(err)
	}
	want := parent.SpanContext()
	if !strings.Contains(stored, `"traceparent":"00-`+want.TraceID().String()+"-"+want.SpanID().String()+`-01"`) {
		t.Fatalf("outbox headers %q lack the appender's traceparent", stored)
	}

	consumers := []string{"traced-tx", "traced-remote"}
	testkit.Eventually(t, 20*time.Second, "every consumer to handle both events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2*len(consumers)
	})
	var spans tracetest.SpanStubs
	// A consumer span ends after the handler's bookkeeping.
	testkit.Eventually(t, 10*time.Second, "every consumer span to end", func() bool {
		spans = exp.GetSpans()
		return len(spans) >= 1+2*len(consumers)
	})
	for _, c := range consumers {
		got := seen[c+"/"+traced.ID]
		if got.sc.TraceID() != want.TraceID() {
			t.Errorf("%s: handler trace %s, want the appender's %s", c, got.sc.TraceID(), want.TraceID())
		}
		if got.headers["traceparent"] == "" {
			t.Errorf("%s: handler's event lacks its traceparent header", c)
		}
		// The handler's span is the bus's consumer span, a child of the
		// appender's span.
		span := findSpan(spans, got.sc.SpanID())
		if span == nil {
			t.Fatalf("%s: no exported span %s", c, got.sc.SpanID())
		}
		if span.Name != "process "+typPlaced || span.SpanKind != trace.SpanKindConsumer || span.Parent.SpanID() != want.SpanID() {
			t.Errorf("%s: span %q kind %v parent %s, want a consumer span under %s", c, span.Name, span.SpanKind, span.Parent.SpanID(), want.SpanID())
		}
		if !hasAttr(span.Attributes, attribute.String("messaging.consumer.group.name", c)) ||
			!hasAttr(span.Attributes, attribute.String("messaging.message.id", traced.ID)) {
			t.Errorf("%s: span attributes %v", c, span.Attributes)
		}
		other := seen[c+"/"+plain.ID]
		if !other.sc.IsValid() || other.sc.TraceID() == want.TraceID() {
			t.Errorf("%s: untraced event ran in %v, want a fresh trace", c, other.sc)
		}
	}
}

func findSpan(spans tracetest.SpanStubs, id trace.SpanID) *tracetest.SpanStub {
	for i := range spans {
		if spans[i].SpanContext.SpanID() == id {
			return &spans[i]
		}
	}
	return nil
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, a := range attrs {
		if a == want {
			return true
		}
	}
	return false
}

func TestTraceContextFlowsInProcess(t *testing.T) {
	stores(t, func(t *testing.T, d *db.DB) { traceCase(t, d, testConfig(t, d)) })
}

// Through JetStream the context rides in the NATS headers too.
func TestTraceContextFlowsThroughJetStream(t *testing.T) {
	target := natsURL(t)
	d := openStore(t, sqliteStore)
	cfg := testConfig(t, d)
	cfg.NATSURL = target
	cfg.Stream = testStream(t, target)
	traceCase(t, d, cfg)

	nc, err := nats.Connect(target)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	tp := first.Header.Get("traceparent")
	var stored string
	if err := d.Gorm.Raw(`SELECT headers FROM event_outbox ORDER BY seq LIMIT 1`).Row().Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if tp == "" || !strings.Contains(stored, tp) {
		t.Fatalf("NATS header traceparent %q, outbox headers %q", tp, stored)
	}
}
