package app

// Tracing cost on the hottest route (a cached GET /v1/products/:id), as
// ratios against BenchmarkGetProductCached (tracing off, no trace context):
//
//	go test -run '^$' -bench 'GetProductCached' -benchmem .
//
// off + traceparent  = the caller's context is only extracted and carried
// on                 = a sampled server span per request, exported to a
//                      discarding exporter (what a collector costs the
//                      service is the export queue, not measured here)

import (
	"context"
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// discardExporter drops every span: the benchmark counts span creation.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

const benchTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func BenchmarkGetProductCachedTracingOffWithTraceparent(b *testing.B) {
	bi, req, _ := cachedProduct(b)
	req.Header.Set("traceparent", benchTraceparent)
	b.ReportAllocs()
	for b.Loop() {
		benchServe(b, bi.handler, req, http.StatusOK)
	}
}

func BenchmarkGetProductCachedTracingOn(b *testing.B) {
	bi, req, _ := cachedProduct(b, withSpanExporter(discardExporter{}))
	if !bi.app.tracing.Enabled() {
		b.Fatal("tracing is off")
	}
	req.Header.Set("traceparent", benchTraceparent)
	b.ReportAllocs()
	for b.Loop() {
		benchServe(b, bi.handler, req, http.StatusOK)
	}
}
