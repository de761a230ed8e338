// Package server runs the HTTP server with the configured timeouts and a
// graceful shutdown: on SIGTERM/SIGINT readiness turns false (so a load
// balancer stops sending), in-flight requests finish, then the caller closes
// the pools.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzhttp"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/httpx"
)

// New builds the http.Server. gzhttp compresses responses of 1 KiB or more
// when the client accepts gzip; smaller bodies are not worth the CPU.
// HeadAsGet comes first, so a HEAD gets the headers of the compressed GET.
func New(cfg config.HTTP, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           httpx.HeadAsGet(gzhttp.GzipHandler(h)),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// UseTLS makes Serve/ServeDrain answer HTTPS on their listener: TLS 1.2 or
// later (set explicitly so a GODEBUG cannot lower it), HTTP/2 offered by
// ALPN next to HTTP/1.1 (net/http adds both when the config names none).
// getCertificate is asked on every handshake, so a reloaded certificate
// reaches new connections without a restart.
func UseTLS(srv *http.Server, getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) {
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCertificate}
}

// Serve listens on ln until ctx is cancelled, then drains. ready is flipped
// to false first so /readyz answers 503 while draining.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, ready *atomic.Bool, shutdownTimeout time.Duration, log *slog.Logger) error {
	return ServeDrain(ctx, srv, ln, ready, Drain{Timeout: shutdownTimeout}, log)
}

// Drain is how the server stops once its context is cancelled.
type Drain struct {
	// Delay is how long the server keeps accepting and serving after
	// readiness turned false, before it stops listening. It gives load
	// balancers time to notice (an active /readyz check needs a few
	// intervals; a Kubernetes endpoint update takes seconds). During the
	// delay every response carries Connection: close, so each pooled
	// connection a proxy reuses is closed after its answer. Idle ones are
	// left open until Shutdown: closing them at once (what
	// SetKeepAlivesEnabled(false) does) races a proxy that is just sending
	// on one, and a POST lost that way is not retried.
	Delay time.Duration
	// Timeout bounds the wait for in-flight requests after the delay.
	Timeout time.Duration
}

// ServeDrain is Serve with a drain delay: on ctx cancellation, in order,
//  1. /readyz turns 503 and responses start carrying Connection: close,
//  2. the server keeps serving for d.Delay (new connections still accepted),
//  3. Shutdown: the listener closes (new connections are refused, which a
//     proxy retries on another upstream) and in-flight requests finish
//     within d.Timeout.
//
// Over HTTP/2 the same Connection: close makes net/http send GOAWAY after
// the response (the header itself is not sent), so clients open a new
// connection for their next request, as HTTP/1.1 clients do.
func ServeDrain(ctx context.Context, srv *http.Server, ln net.Listener, ready *atomic.Bool, d Drain, log *slog.Logger) error {
	var draining atomic.Bool
	if d.Delay > 0 {
		next := srv.Handler // set before Serve starts: no race with it
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if draining.Load() {
				w.Header().Set("Connection", "close") // net/http closes after this response
			}
			next.ServeHTTP(w, r)
		})
	}
	errc := make(chan error, 1)
	// Read before Serve: net/http fills in TLSConfig for HTTP/2 even on a
	// plain listener.
	useTLS := srv.TLSConfig != nil
	go func() {
		if useTLS {
			errc <- srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig.GetCertificate
			return
		}
		errc <- srv.Serve(ln)
	}()
	ready.Store(true)
	log.Info("serving", "addr", ln.Addr().String(), "tls", useTLS)
	select {
	case err := <-errc:
		ready.Store(false)
		return err
	case <-ctx.Done():
	}
	ready.Store(false)
	if d.Delay > 0 {
		draining.Store(true)
		log.Info("shutting down: not ready, still serving during the drain delay", "delay", d.Delay)
		select {
		case <-time.After(d.Delay):
		case err := <-errc:
			return err
		}
	}
	log.Info("shutting down: draining in-flight requests", "timeout", d.Timeout)
	sctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
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
