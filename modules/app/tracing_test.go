package app

import (
	"context"
	"example.com/productapi/platform/testkit/natstest"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// withSpanExporter turns tracing on with exp receiving every span
// synchronously.
func withSpanExporter(exp sdktrace.SpanExporter) Option {
	return func(a *App) { a.traceOpt.Exporter = exp }
}

// Incoming W3C traceparents used below (trace ID, parent span ID, flags).
const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

func traceparent(traceID, spanID string, sampled bool) string {
	flags := "00"
	if sampled {
		flags = "01"
	}
	return "00-" + traceID + "-" + spanID + "-" + flags
}

// waitSpans polls the exporter until match finds a span (spans are
// exported when they end, which may follow the response).
func waitSpans(t *testing.T, exp *tracetest.InMemoryExporter, what string, match func(tracetest.SpanStub) bool) tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, s := range exp.GetSpans() {
			if match(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range exp.GetSpans() {
				names = append(names, fmt.Sprintf("%s(%s parent %s)", s.Name, s.SpanContext.SpanID(), s.Parent.SpanID()))
			}
			t.Fatalf("no span %s among %v", what, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A request with a traceparent gets a server span in the caller's trace,
// named after the route template, with the statements it ran as child
// spans (without their parameters); probes get no span; an unsampled
// caller is respected (parent-based sampling).
func TestTracingServerAndDatabaseSpans(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		exp := tracetest.NewInMemoryExporter()
		s := startServer(t, testConfig(t, kind), withSpanExporter(exp))
		r := s.do("POST", "/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword},
			"traceparent", traceparent(callerTrace, callerSpan, true))
		expect(t, r, 200)

		server := waitSpans(t, exp, "server span of the login", func(sp tracetest.SpanStub) bool {
			return sp.SpanKind == trace.SpanKindServer && sp.SpanContext.TraceID().String() == callerTrace
		})
		if server.Name != "POST /v1/auth/login" || server.Parent.SpanID().String() != callerSpan || !server.Parent.IsRemote() {
			t.Fatalf("server span %q parent %s remote=%v", server.Name, server.Parent.SpanID(), server.Parent.IsRemote())
		}
		dbSpan := waitSpans(t, exp, "database span under the server span", func(sp tracetest.SpanStub) bool {
			return strings.HasPrefix(sp.Name, "gorm.") && sp.Parent.SpanID() == server.SpanContext.SpanID()
		})
		if dbSpan.SpanContext.TraceID() != server.SpanContext.TraceID() {
			t.Fatalf("database span in trace %s", dbSpan.SpanContext.TraceID())
		}
		for _, a := range dbSpan.Attributes {
			if strings.Contains(a.Value.String(), adminEmail) {
				t.Fatalf("database span records a query parameter: %s=%s", a.Key, a.Value.String())
			}
		}

		// Probes are not traced; an unsampled caller records nothing.
		quiet := "0af7651916cd43dd8448eb211c80319c"
		expect(t, s.do("GET", "/livez", "", nil, "traceparent", traceparent(quiet, callerSpan, true)), 200)
		expect(t, s.do("GET", "/v1/products", "", nil, "traceparent", traceparent(quiet, callerSpan, false)), 200)
		// A sampled request afterwards proves the exporter is still live.
		r = s.do("GET", "/v1/products", "", nil, "traceparent", traceparent(callerTrace, "1111111111111111", true))
		expect(t, r, 200)
		waitSpans(t, exp, "server span of the list", func(sp tracetest.SpanStub) bool {
			return sp.Name == "GET /v1/products" && sp.Parent.SpanID().String() == "1111111111111111"
		})
		for _, sp := range exp.GetSpans() {
			if sp.SpanContext.TraceID().String() == quiet {
				t.Fatalf("span %q recorded for a probe or an unsampled caller", sp.Name)
			}
		}

		// With Redis, the cache's commands are spans of the request too
		// (without their arguments).
		if s.app.redis == nil {
			return
		}
		cacheTrace := "5bf92f3577b34da6a3ce929d0e0e4736"
		admin := s.login(adminEmail, adminPassword)
		tp := traceparent(cacheTrace, callerSpan, true)
		id := s.createProduct(admin, nil)["id"].(string)
		for i := 0; i < 2; i++ {
			expect(t, s.do("GET", "/v1/products/"+id, "", nil, "traceparent", tp), 200)
			expect(t, s.do("GET", "/v1/products?limit=3", "", nil, "traceparent", tp), 200)
		}
		redisSpan := waitSpans(t, exp, "redis command span", func(sp tracetest.SpanStub) bool {
			return sp.SpanContext.TraceID().String() == cacheTrace && hasAttribute(sp, "db.system", "redis")
		})
		for _, a := range redisSpan.Attributes {
			if strings.Contains(string(a.Key), "statement") || strings.Contains(string(a.Key), "query.text") {
				t.Fatalf("redis span records the command: %s=%s", a.Key, a.Value.String())
			}
		}
	})
}

// chargeRecorder is a payment provider (the orders tests' fake) that keeps
// the traceparent of every charge request.
type chargeRecorder struct {
	*fakeProvider
	mu      sync.Mutex
	parents []string
}

func newChargeRecorder(t *testing.T) *chargeRecorder {
	c := &chargeRecorder{fakeProvider: newFakeProvider(t, "ok")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.parents = append(c.parents, r.Header.Get("traceparent"))
		c.mu.Unlock()
		c.serve(w, r)
	}))
	t.Cleanup(srv.Close)
	c.srv = srv
	return c
}

func (c *chargeRecorder) first(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		if len(c.parents) > 0 {
			p := c.parents[0]
			c.mu.Unlock()
			return p
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the payment provider was never called")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A checkout in a traced request reaches the payment provider in the same
// trace: request -> outbox row -> event delivery -> consumer span ->
// charge call. With exporting on, the charge's client span is a child of
// the orders-payments consumer span; with exporting off nothing is
// recorded but the caller's trace ID still arrives.
func TestTracingCheckoutReachesPaymentProvider(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		for _, exporting := range []bool{true, false} {
			t.Run(fmt.Sprintf("exporting=%v", exporting), func(t *testing.T) {
				provider := newChargeRecorder(t)
				cfg := testConfig(t, kind)
				cfg.Payment.ProviderURL = provider.srv.URL
				exp := tracetest.NewInMemoryExporter()
				var opts []Option
				if exporting {
					opts = append(opts, withSpanExporter(exp))
				}
				s := startServer(t, cfg, opts...)
				if s.app.tracing.Enabled() != exporting {
					t.Fatalf("tracing enabled=%v", s.app.tracing.Enabled())
				}
				admin := s.adminToken()
				_, ann := s.register("trace@example.com")
				p := s.createProduct(admin, map[string]any{"stock": 3, "price_cents": 500})["id"].(string)
				r := s.do("POST", "/v1/orders", ann, orderBody(orderLine{p, 1}), "Idempotency-Key", "traced-1",
					"traceparent", traceparent(callerTrace, callerSpan, true))
				expect(t, r, 201)
				order := r.JSON(t)["id"].(string)

				got := provider.first(t)
				parts := strings.Split(got, "-")
				if len(parts) != 4 || parts[1] != callerTrace {
					t.Fatalf("provider got traceparent %q, want trace %s", got, callerTrace)
				}
				s.waitStatus(ann, order, "paid", 20*time.Second)
				if !exporting {
					if n := len(exp.GetSpans()); n != 0 {
						t.Fatalf("%d spans recorded with exporting off", n)
					}
					return
				}
				consumer := waitSpans(t, exp, "orders-payments consumer span", func(sp tracetest.SpanStub) bool {
					return sp.Name == "process orders.order_placed.v1" && sp.SpanContext.TraceID().String() == callerTrace &&
						hasAttribute(sp, "messaging.consumer.group.name", "orders-payments")
				})
				client := waitSpans(t, exp, "charge client span", func(sp tracetest.SpanStub) bool {
					return sp.SpanKind == trace.SpanKindClient && sp.SpanContext.SpanID().String() == parts[2]
				})
				if client.Parent.SpanID() != consumer.SpanContext.SpanID() {
					t.Fatalf("charge span's parent %s, want the consumer span %s", client.Parent.SpanID(), consumer.SpanContext.SpanID())
				}
				// The consumer span hangs under the checkout's server span.
				server := waitSpans(t, exp, "checkout server span", func(sp tracetest.SpanStub) bool {
					return sp.Name == "POST /v1/orders" && sp.SpanContext.TraceID().String() == callerTrace
				})
				if !descends(exp.GetSpans(), consumer, server.SpanContext.SpanID()) {
					t.Fatalf("consumer span does not descend from the checkout span")
				}
			})
		}
	})
}

// The same checkout through NATS JetStream: the relay publishes the
// outbox row with the trace context as NATS headers and the payment
// consumer continues it. A stream of its own keeps the test's durable
// consumers away from any other instance on the same server.
func TestTracingCheckoutThroughJetStream(t *testing.T) {
	natsURL := natstest.URL(t)
	stream := fmt.Sprintf("PAPI_TRACE_%d", time.Now().UnixNano())
	t.Cleanup(func() { deleteStream(natsURL, stream) })
	provider := newChargeRecorder(t)
	cfg := testConfig(t, sqliteStore)
	cfg.Payment.ProviderURL = provider.srv.URL
	cfg.NATS.URL = natsURL
	exp := tracetest.NewInMemoryExporter()
	s := startServer(t, cfg, withSpanExporter(exp), func(a *App) { a.stream = stream })
	admin := s.adminToken()
	_, ann := s.register("trace-js@example.com")
	p := s.createProduct(admin, map[string]any{"stock": 3, "price_cents": 500})["id"].(string)
	r := s.do("POST", "/v1/orders", ann, orderBody(orderLine{p, 1}), "Idempotency-Key", "traced-js",
		"traceparent", traceparent(callerTrace, callerSpan, true))
	expect(t, r, 201)
	got := strings.Split(provider.first(t), "-")
	if len(got) != 4 || got[1] != callerTrace {
		t.Fatalf("provider got traceparent %q, want trace %s", strings.Join(got, "-"), callerTrace)
	}
	consumer := waitSpans(t, exp, "JetStream consumer span", func(sp tracetest.SpanStub) bool {
		return sp.Name == "process orders.order_placed.v1" && hasAttribute(sp, "messaging.system", "nats") &&
			hasAttribute(sp, "messaging.consumer.group.name", "orders-payments")
	})
	if consumer.SpanContext.TraceID().String() != callerTrace {
		t.Fatalf("consumer span in trace %s", consumer.SpanContext.TraceID())
	}
}

func deleteStream(url, name string) {
	nc, err := nats.Connect(url)
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, name)
}

func hasAttribute(sp tracetest.SpanStub, key, value string) bool {
	for _, a := range sp.Attributes {
		if string(a.Key) == key && a.Value.String() == value {
			return true
		}
	}
	return false
}

// descends reports whether sp has ancestor among spans.
func descends(spans tracetest.SpanStubs, sp tracetest.SpanStub, ancestor trace.SpanID) bool {
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	for i := 0; i < 64; i++ {
		if sp.Parent.SpanID() == ancestor {
			return true
		}
		next, ok := byID[sp.Parent.SpanID()]
		if !ok {
			return false
		}
		sp = next
	}
	return false
}
