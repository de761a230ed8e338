package events

import (
	"context"
	"encoding/json"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Trace context travels with every event: Append stores the W3C headers of
// the appending unit of work in the outbox row (column headers), JetStream
// messages carry them as NATS headers, and each handler runs in a consumer
// span whose parent is that context. So one trace covers the request that
// appended an event, every handler of it and whatever those call.

// traceHeaders returns ctx's trace context as headers and their stored
// form ("" when ctx carries none, the common untraced case).
func (b *Bus) traceHeaders(ctx context.Context) (map[string]string, string) {
	carrier := propagation.MapCarrier{}
	b.cfg.Propagator.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return nil, ""
	}
	raw, err := json.Marshal(map[string]string(carrier))
	if err != nil {
		return nil, ""
	}
	return carrier, string(raw)
}

// decodeHeaders reads the stored form; anything unreadable is no context.
func decodeHeaders(s string) map[string]string {
	if s == "" {
		return nil
	}
	var h map[string]string
	if json.Unmarshal([]byte(s), &h) != nil {
		return nil
	}
	return h
}

// consumerSpan starts the span one handler run lives in: a child of the
// event's trace context, linked to the span of ctx when there is one (an
// operator's replay request).
func (b *Bus) consumerSpan(ctx context.Context, consumer string, ev Event, transport string) (context.Context, trace.Span) {
	// Extract derives from ctx: the bus's stop signal still reaches it.
	parent := b.cfg.Propagator.Extract(ctx, propagation.MapCarrier(ev.Headers))
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", transport),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", ev.Type),
			attribute.String("messaging.consumer.group.name", consumer),
			attribute.String("messaging.message.id", ev.ID),
		),
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.TraceID() != trace.SpanContextFromContext(parent).TraceID() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return b.tracer.Start(parent, "process "+ev.Type, opts...)
}

// endSpan records a handler outcome on its span.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, errorText(err))
	}
	span.End()
}
