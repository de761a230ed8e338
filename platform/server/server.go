// Package server runs the HTTP server with the configured timeouts and a
// graceful shutdown: on SIGTERM/SIGINT readiness turns false (so a load
// balancer stops sending), in-flight requests finish, then the caller closes
// the pools.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzhttp"

	"example.com/productapi/platform/config"
)

// New builds the http.Server. gzhttp compresses responses of 1 KiB or more
// when the client accepts gzip; smaller bodies are not worth the CPU.
func New(cfg config.HTTP, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           gzhttp.GzipHandler(h),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve listens on ln until ctx is cancelled, then drains. ready is flipped
// to false first so /readyz answers 503 while draining.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, ready *atomic.Bool, shutdownTimeout time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ready.Store(true)
	log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		ready.Store(false)
		return err
	case <-ctx.Done():
	}
	ready.Store(false)
	log.Info("shutting down: draining in-flight requests", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("drained")
	return nil
}
