// Package observability sets up structured logging and Prometheus metrics.
package observability

import (
	"io"
	"log/slog"
	"strings"

	"example.com/productapi/platform/config"
)

// NewLogger builds the process logger: JSON for production, text for people.
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	level, _ := config.ParseLevel(cfg.Level) // validated at load
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
