package observability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"

	"example.com/productapi/platform/config"
)

// TracingOptions are for tests and embedders.
type TracingOptions struct {
	// Exporter receives every sampled span synchronously instead of the
	// OTLP exporter (tests pass tracetest.NewInMemoryExporter()); it turns
	// tracing on even without an endpoint.
	Exporter sdktrace.SpanExporter
	// Version is the service.version resource attribute (optional).
	Version string
}

// Tracing is the process's OpenTelemetry setup. It is passed explicitly to
// whatever instruments (HTTP server, database, events, payment client),
// never installed as the OTel global, so several instances in one test
// process keep their spans apart.
//
// Exporting off (no endpoint, no exporter): the provider is a no-op, the
// database gets no plugin and the HTTP middleware only extracts an
// incoming traceparent into the request context. No span is recorded, but
// a caller's trace ID still flows into events and the payment call.
type Tracing struct {
	// Provider creates spans; never nil (no-op when exporting is off).
	Provider trace.TracerProvider
	// Propagator is W3C TraceContext + Baggage, always.
	Propagator propagation.TextMapPropagator
	sdk        *sdktrace.TracerProvider
	service    string
}

// NewPropagator is the propagator every component uses: W3C TraceContext
// and Baggage.
func NewPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// NewTracing builds the tracer provider from cfg. Close flushes it.
func NewTracing(ctx context.Context, cfg config.Tracing, opts TracingOptions) (*Tracing, error) {
	t := &Tracing{Provider: noop.NewTracerProvider(), Propagator: NewPropagator(), service: cfg.ServiceName}
	exp := opts.Exporter
	if exp == nil && cfg.OTLPEndpoint == "" {
		return t, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", cfg.ServiceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES (deployment.environment, ...)
	)
	if err != nil {
		return nil, &config.Error{Setting: "OTEL_RESOURCE_ATTRIBUTES", Problem: err.Error()}
	}
	if opts.Version != "" {
		res, _ = resource.Merge(res, resource.NewSchemaless(attribute.String("service.version", opts.Version)))
	}
	sampler, err := TraceSampler(cfg.Sampler, cfg.SampleRatio)
	if err != nil {
		return nil, &config.Error{Setting: "OTEL_TRACES_SAMPLER (tracing.sampler)", Problem: err.Error()}
	}
	popts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	if exp != nil {
		popts = append(popts, sdktrace.WithSyncer(exp))
	} else {
		// OTLP/HTTP. The exporter itself still reads OTEL_EXPORTER_OTLP_HEADERS,
		// _TIMEOUT, _COMPRESSION and the certificate variables; the endpoint
		// comes from the config so file and environment agree.
		otlp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(TracesURL(cfg.OTLPEndpoint)))
		if err != nil {
			return nil, &config.Error{Setting: "OTEL_EXPORTER_OTLP_ENDPOINT (tracing.otlp_endpoint)", Problem: err.Error()}
		}
		// Batching: a slow or absent collector never delays a request;
		// when the queue is full, spans are dropped.
		popts = append(popts, sdktrace.WithBatcher(otlp))
	}
	t.sdk = sdktrace.NewTracerProvider(popts...)
	t.Provider = t.sdk
	return t, nil
}

// TracesURL is the OTLP/HTTP traces URL of a collector's base URL, as the
// OTel spec derives it from OTEL_EXPORTER_OTLP_ENDPOINT.
func TracesURL(base string) string {
	return strings.TrimRight(base, "/") + "/v1/traces"
}

// TraceSampler maps an OTEL_TRACES_SAMPLER name and ratio to a sampler.
func TraceSampler(name string, ratio float64) (sdktrace.Sampler, error) {
	switch name {
	case "", "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	}
	return nil, fmt.Errorf("unknown sampler %q", name)
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.sdk != nil }

// Close flushes buffered spans and stops the exporter (bounded by ctx).
func (t *Tracing) Close(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return errors.Join(t.sdk.ForceFlush(ctx), t.sdk.Shutdown(ctx))
}

// untraced routes never get a span: probes and scrapes would drown the
// interesting traces.
var untraced = map[string]bool{"/livez": true, "/readyz": true, "/metrics": true}

// Middleware continues the caller's trace (W3C traceparent) and, when
// exporting is on, records a server span named after the route template
// ("GET /v1/products/:id", never the raw path). Mount it before the access
// log so the log line can carry the trace ID.
func (t *Tracing) Middleware() gin.HandlerFunc {
	if !t.Enabled() {
		prop := t.Propagator
		return func(c *gin.Context) {
			// Only the header lookup when nobody sends trace context.
			// Same test as Header.Get(k) != "", on keys canonicalized once:
			// Get canonicalizes a lower-case key anew (an allocation) on
			// every call.
			if firstValue(c.Request.Header, traceparentKey) != "" || firstValue(c.Request.Header, baggageKey) != "" {
				c.Request = c.Request.WithContext(prop.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header)))
			}
			c.Next()
		}
	}
	return otelgin.Middleware(t.service,
		otelgin.WithTracerProvider(t.Provider),
		otelgin.WithPropagators(t.Propagator),
		otelgin.WithMeterProvider(metricnoop.NewMeterProvider()), // Prometheus has the HTTP metrics
		otelgin.WithGinFilter(func(c *gin.Context) bool { return !untraced[c.FullPath()] }),
	)
}

// The propagation headers in the form net/http stores request headers
// ("Traceparent", "Baggage").
var (
	traceparentKey = textproto.CanonicalMIMEHeaderKey("traceparent")
	baggageKey     = textproto.CanonicalMIMEHeaderKey("baggage")
)

// firstValue is h.Get(key) for a key already canonical.
func firstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Transport wraps an HTTP client transport so outgoing calls carry the
// caller's traceparent (always) and get a client span (when exporting).
func (t *Tracing) Transport(base http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(t.Provider),
		otelhttp.WithPropagators(t.Propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	)
}

// TraceID is the trace ID carried by ctx, or "" when there is none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// shutdownTimeout bounds the final flush on Close.
const shutdownTimeout = 5 * time.Second

// CloseWithTimeout is Close with the default flush budget.
func (t *Tracing) CloseWithTimeout() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return t.Close(ctx)
}

// InstrumentRedis adds a client span per Redis command (name = command,
// db.system redis) made within a trace. Command arguments are never recorded: cache keys and
// values may hold personal data. Call it only when Enabled.
func (t *Tracing) InstrumentRedis(rdb redis.UniversalClient) error {
	return redisotel.InstrumentTracing(rdb,
		redisotel.WithTracerProvider(t.ChildSpansOnly()),
		redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(false),
	)
}

// ChildSpansOnly is Provider for instrumentation that should only add
// detail to an existing trace: statements and cache commands made by
// background loops (the event dispatcher polls every 100 ms, the flag
// refresher, the database guard) would otherwise each start a trace of
// their own. Without a span in the context, Start returns a non-recording
// span and costs nothing.
func (t *Tracing) ChildSpansOnly() trace.TracerProvider {
	return childOnlyProvider{tp: t.Provider}
}

type childOnlyProvider struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (p childOnlyProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{t: p.tp.Tracer(name, opts...)}
}

type childOnlyTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (t childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx) // the no-op span
	}
	return t.t.Start(ctx, name, opts...)
}
