package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/httpx"
)

func defaults() config.Tracing { return config.Defaults().Tracing }

// With an endpoint, spans go to <endpoint>/v1/traces over OTLP/HTTP, and
// Close flushes what is still buffered.
func TestOTLPExportFlushesOnClose(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts = append(posts, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	cfg := defaults()
	cfg.OTLPEndpoint = collector.URL + "/"
	tr, err := NewTracing(context.Background(), cfg, TracingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() {
		t.Fatal("an endpoint must enable tracing")
	}
	_, span := tr.Provider.Tracer("test").Start(context.Background(), "work")
	span.End()
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posts) == 0 || posts[0] != "POST /v1/traces application/x-protobuf" {
		t.Fatalf("collector saw %v", posts)
	}
}

// Without endpoint or exporter nothing is recorded, yet the middleware
// still continues an incoming trace so its ID reaches the log, events and
// outgoing calls.
func TestTracingOffStillPropagates(t *testing.T) {
	tr, err := NewTracing(context.Background(), defaults(), TracingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Fatal("tracing on without endpoint or exporter")
	}
	var seen trace.SpanContext
	var outgoing string
	downstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outgoing = r.Header.Get("traceparent")
	}))
	defer downstream.Close()
	client := &http.Client{Transport: tr.Transport(http.DefaultTransport)}
	r := gin.New()
	r.Use(tr.Middleware())
	r.GET("/x", func(c *gin.Context) {
		seen = trace.SpanContextFromContext(c.Request.Context())
		req, _ := http.NewRequestWithContext(c.Request.Context(), "GET", downstream.URL, nil)
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
		}
	})
	const in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("traceparent", in)
	r.ServeHTTP(httptest.NewRecorder(), req)
	if seen.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !seen.IsRemote() {
		t.Fatalf("handler saw %v", seen)
	}
	if outgoing != in {
		t.Fatalf("outgoing traceparent %q, want the caller's %q", outgoing, in)
	}
}

// The access log line carries the trace ID of a traced request (and no
// trace_id attribute otherwise).
func TestAccessLogHasTraceID(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := NewTracing(context.Background(), defaults(), TracingOptions{Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	r := gin.New()
	r.Use(tr.Middleware())
	r.Use(httpx.Base(log, 1<<20)...)
	r.GET("/v1/things/:id", func(c *gin.Context) { c.Status(204) })
	r.GET("/livez", func(c *gin.Context) { c.Status(200) })
	for _, path := range []string{"/v1/things/7", "/livez"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 access log lines, got %q", buf.String())
	}
	var traced, probe map[string]any
	if json.Unmarshal([]byte(lines[0]), &traced) != nil || json.Unmarshal([]byte(lines[1]), &probe) != nil {
		t.Fatalf("log lines %q", lines)
	}
	if traced["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || traced["route"] != "/v1/things/:id" {
		t.Fatalf("access log %v", traced)
	}
	if _, ok := probe["trace_id"]; ok {
		t.Fatalf("untraced probe logged a trace_id: %v", probe)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "GET /v1/things/:id" {
		t.Fatalf("spans %v", spans)
	}
}

func TestSamplerNames(t *testing.T) {
	for _, name := range config.TraceSamplers {
		if _, err := TraceSampler(name, 0.5); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := TraceSampler("sometimes", 1); err == nil {
		t.Error("unknown sampler accepted")
	}
}

// Database and cache spans only ever extend a trace: a background loop's
// statement without a span in its context records nothing.
func TestChildSpansOnly(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := NewTracing(context.Background(), defaults(), TracingOptions{Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	child := tr.ChildSpansOnly().Tracer("db")
	_, orphan := child.Start(context.Background(), "gorm.Query")
	orphan.End()
	if orphan.IsRecording() || len(exp.GetSpans()) != 0 {
		t.Fatalf("a statement outside any trace was recorded: %v", exp.GetSpans())
	}
	ctx, parent := tr.Provider.Tracer("http").Start(context.Background(), "GET /x")
	_, stmt := child.Start(ctx, "gorm.Query")
	stmt.End()
	parent.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "gorm.Query" || spans[0].Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("spans %v", spans)
	}
}
