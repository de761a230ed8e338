package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/certtest"
)

// startTLS serves h over HTTPS through ServeDrain and returns the base URL,
// a client that speaks HTTP/2 to it, and the function that sends SIGTERM.
func startTLS(t *testing.T, h http.Handler, maxHeaderBytes int, d Drain) (string, *http.Client, *atomic.Bool, func() error) {
	t.Helper()
	ca := certtest.NewCA(t)
	pair := ca.Issue(t, "server")
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testHTTP()
	cfg.MaxHeaderBytes = maxHeaderBytes
	srv := New(cfg, h, slog.New(slog.DiscardHandler))
	UseTLS(srv, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
	var ready atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeDrain(ctx, srv, ln, &ready, d, slog.New(slog.DiscardHandler)) }()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	stopped := false
	stop := func() error {
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() {
		if !stopped {
			_ = stop()
		}
	})
	testkit.Eventually(t, 20*time.Second, "ready", ready.Load)
	return "https://" + ln.Addr().String(), &http.Client{Transport: tr, Timeout: 20 * time.Second}, &ready, stop
}

// The drain works over HTTP/2: during the delay requests are still
// answered, and Connection: close turns into a GOAWAY, so the client's
// next request goes out on a new connection; then the listener closes.
func TestServeDrainOverHTTP2(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	base, client, ready, stop := startTLS(t, mux, 64<<10, Drain{Delay: 5 * time.Second, Timeout: 10 * time.Second})
	// get answers /fast and says which local address its connection had.
	get := func() (*http.Response, string) {
		t.Helper()
		var local string
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+"/fast", nil)
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || res.ProtoMajor != 2 {
			t.Fatalf("status %d over HTTP/%d, want 200 over HTTP/2", res.StatusCode, res.ProtoMajor)
		}
		return res, local
	}
	_, first := get()
	if _, again := get(); again != first {
		t.Fatalf("keep-alive before SIGTERM: %s then %s", first, again)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	testkit.Eventually(t, 20*time.Second, "not ready", func() bool { return !ready.Load() })
	// The GOAWAY races the client's next request (which may still be
	// accepted on the old connection, and then answered with a GOAWAY of
	// its own): within a few requests one must use a new connection.
	moved := false
	for i := 0; i < 20 && !moved; i++ {
		_, local := get()
		moved = local != first
	}
	if !moved {
		t.Fatal("during the drain delay the client kept its HTTP/2 connection: no GOAWAY")
	}
	select {
	case err := <-stopped:
		t.Fatalf("server stopped before the drain delay ended: %v", err)
	default:
	}
	if err := <-stopped; err != nil {
		t.Fatalf("ServeDrain: %v", err)
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(base, "https://")); err == nil {
		t.Fatal("listener still accepting after the drain")
	}
}

// http.max_header_bytes holds over TLS: HTTP/1.1 gets 431; over HTTP/2 the
// limit is advertised in SETTINGS, so the Go client refuses to send (other
// clients get 431).
func TestHeaderLimitOverTLS(t *testing.T) {
	base, client, _, _ := startTLS(t, http.NotFoundHandler(), 8<<10, Drain{Timeout: 5 * time.Second})
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: client.Transport.(*http.Transport).TLSClientConfig.Clone()}}
	do := func(c *http.Client, filler int) (*http.Response, error) {
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", filler))
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
		}
		return res, err
	}
	if res, err := do(h1, 64<<10); err != nil || res.ProtoMajor != 1 || res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("HTTP/1.1 over TLS with 64 KiB of headers: %v %+v, want 431", err, res)
	}
	if res, err := do(client, 1<<10); err != nil || res.ProtoMajor != 2 || res.StatusCode != 404 {
		t.Fatalf("HTTP/2 with 1 KiB of headers: %v %+v", err, res) // also: the client has the server's SETTINGS now
	}
	res, err := do(client, 64<<10)
	switch {
	case err != nil && !strings.Contains(err.Error(), "header list larger than peer's advertised limit"):
		t.Fatalf("HTTP/2 with 64 KiB of headers: unexpected error %v", err)
	case err == nil && res.StatusCode != http.StatusRequestHeaderFieldsTooLarge:
		t.Fatalf("HTTP/2 with 64 KiB of headers: %d, want 431 or a refusal", res.StatusCode)
	}
}
