package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/testkit"
)

// SIGTERM ordering behind a load balancer: readiness turns false first, the
// server keeps answering (closing each connection) during the delay, an
// in-flight request started before the signal completes, and only then does
// the listener close.
func TestServeDrainOrdering(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "done")
	})
	mux.HandleFunc("/fast", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := New(testHTTP(), mux, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeDrain(ctx, srv, ln, &ready, Drain{Delay: 5 * time.Second, Timeout: 30 * time.Second}, slog.New(slog.DiscardHandler))
	}()
	base := "http://" + ln.Addr().String()
	testkit.Eventually(t, 20*time.Second, "readyz 200", func() bool { return get(base+"/readyz") == 200 })

	// A proxy's pooled keep-alive connection, idle when SIGTERM arrives.
	pooled, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pooled.Close()
	pooledReader := bufio.NewReader(pooled)
	askPooled := func() (*http.Response, error) {
		if _, err := io.WriteString(pooled, "GET /fast HTTP/1.1\r\nHost: lb\r\n\r\n"); err != nil {
			return nil, err
		}
		res, err := http.ReadResponse(pooledReader, nil)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res, nil
	}
	if res, err := askPooled(); err != nil || res.Close {
		t.Fatalf("pooled connection before SIGTERM: %v (close=%v)", err, res != nil && res.Close)
	}

	slow := make(chan string, 1)
	go func() {
		res, err := http.Get(base + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		slow <- string(b)
	}()
	<-started
	cancel() // SIGTERM

	testkit.Eventually(t, 20*time.Second, "not ready", func() bool { return !ready.Load() })
	if code := get(base + "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz while draining = %d, want 503", code)
	}
	// Still serving during the delay, but telling clients not to reuse the connection.
	res, err := http.Get(base + "/fast")
	if err != nil {
		t.Fatalf("request during the drain delay failed: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !res.Close {
		t.Fatalf("during the delay: status %d, Connection: close=%v; want 200 and close", res.StatusCode, res.Close)
	}
	// The idle pooled connection was not closed under the proxy's feet: a
	// request sent on it is answered, and only then is it closed.
	time.Sleep(50 * time.Millisecond)
	if res, err := askPooled(); err != nil || res.StatusCode != 200 || !res.Close {
		t.Fatalf("request on a connection pooled before SIGTERM: %v %+v; want 200 with Connection: close", err, res)
	}
	select {
	case err := <-done:
		t.Fatalf("server stopped before the in-flight request finished: %v", err)
	default:
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Fatalf("in-flight request: %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("ServeDrain: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still accepting after the drain")
	}
}

// Without a delay the listener closes as soon as readiness turns false.
func TestServeWithoutDelayStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	srv := New(testHTTP(), http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln, &ready, 10*time.Second, slog.New(slog.DiscardHandler)) }()
	testkit.Eventually(t, 20*time.Second, "ready", ready.Load)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ready.Load() {
		t.Fatal("still ready after shutdown")
	}
}

// The profiler answers on its own listener and stops with its context.
func TestPprofListener(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := StartPprof(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if code := get("http://" + addr + "/debug/pprof/goroutine?debug=1"); code != 200 {
		t.Fatalf("pprof goroutine profile: %d", code)
	}
	cancel()
	testkit.Eventually(t, 20*time.Second, "the listener to close", func() bool { _, err := net.Dial("tcp", addr); return err != nil })
}

func get(url string) int {
	res, err := http.Get(url)
	if err != nil {
		return -1
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func testHTTP() config.HTTP {
	return config.HTTP{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
}
