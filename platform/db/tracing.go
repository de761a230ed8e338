package db

import (
	"go.opentelemetry.io/otel/trace"
	"gorm.io/plugin/opentelemetry/tracing"
)

// Trace adds a client span per statement (name gorm.Query, gorm.Create...,
// db.query.text with placeholders) as a child of the span in the
// statement's context (pass a provider that skips statements outside any
// trace, see observability.Tracing.ChildSpansOnly). Query parameters are never recorded: they may hold
// personal data. Call it once, only when spans are exported; without it a
// statement costs nothing extra.
func (d *DB) Trace(tp trace.TracerProvider) error {
	return d.Gorm.Use(tracing.NewPlugin(
		tracing.WithTracerProvider(tp),
		tracing.WithoutQueryVariables(),
		tracing.WithoutMetrics(), // Prometheus watches the pool (observability.WatchDB)
	))
}
