package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/certtest"
)

// serveForTest runs the real serve path (config -> build -> listener ->
// server.ServeDrain) on a free loopback port and returns its address and
// log; the service is stopped (and must stop cleanly) at cleanup.
func serveForTest(t *testing.T, cfg config.Config) (addr string, logs *lockedWriter) {
	t.Helper()
	cfg.HTTP.Addr = "127.0.0.1:0"
	logs = &lockedWriter{w: &bytes.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logs, func(a string) { addrc <- a }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("shutdown hung")
		}
	})
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	return addr, logs
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.(*bytes.Buffer).String()
}

// h2Get trusts pool only and offers HTTP/2; every call gets a fresh
// transport, so each request makes a new TLS handshake.
func h2Get(t *testing.T, pool *x509.CertPool, url string) *http.Response {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func servedSerial(res *http.Response) string {
	return res.TLS.PeerCertificates[0].SerialNumber.String()
}

// HTTP_TLS_CERT_FILE/HTTP_TLS_KEY_FILE: HTTPS with HTTP/2 and TLS 1.2+ on
// HTTP_ADDR, HSTS on every response, TLS 1.1 refused; a renewed pair
// written over the files reaches new connections without a restart, and a
// bad one is logged while the current certificate stays.
func TestHTTPSWithHTTP2AndCertificateReload(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		ca := certtest.NewCA(t)
		dir := t.TempDir()
		first := ca.Issue(t, "first.productapi.test")
		cfg := testConfig(t, kind)
		cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile = first.Write(t, dir)
		cfg.HTTP.TLSReloadInterval = 50 * time.Millisecond // the suite's speed; production polls every 10s
		addr, logs := serveForTest(t, cfg)
		base := "https://" + addr
		pool := ca.Pool()
		testkit.Eventually(t, 30*time.Second, "readyz 200 over HTTPS", func() bool { return h2Get(t, pool, base+"/readyz").StatusCode == 200 })

		res := h2Get(t, pool, base+"/v1/products")
		if res.StatusCode != 200 || res.ProtoMajor != 2 {
			t.Fatalf("GET /v1/products: %d over HTTP/%d, want 200 over HTTP/2", res.StatusCode, res.ProtoMajor)
		}
		if res.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("negotiated TLS version %#x, want 1.2 or later", res.TLS.Version)
		}
		if hsts := res.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") || !strings.Contains(hsts, "includeSubDomains") {
			t.Fatalf("HSTS = %q, want max-age=...; includeSubDomains", hsts)
		}
		if got := servedSerial(res); got != first.Cert.SerialNumber.String() {
			t.Fatalf("serving serial %s, want the first certificate's %s", got, first.Cert.SerialNumber)
		}

		// A TLS 1.1 client is refused at the handshake.
		if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
			c.Close()
			t.Fatal("TLS 1.1 handshake accepted")
		}
		// And a TLS 1.2-only client (no 1.3) is served.
		tr12 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
		defer tr12.CloseIdleConnections()
		if res, err := (&http.Client{Transport: tr12}).Get(base + "/livez"); err != nil || res.TLS.Version != tls.VersionTLS12 || res.ProtoMajor != 2 {
			t.Fatalf("TLS 1.2 client: %v %+v", err, res)
		} else {
			res.Body.Close()
		}

		// Renewal: a new pair (new serial and name) over the files.
		second := ca.Issue(t, "second.productapi.test")
		second.Write(t, dir)
		testkit.Eventually(t, 20*time.Second, "a new connection sees the renewed certificate", func() bool {
			return servedSerial(h2Get(t, pool, base+"/livez")) == second.Cert.SerialNumber.String()
		})
		if cn := h2Get(t, pool, base+"/livez").TLS.PeerCertificates[0].Subject.CommonName; cn != "second.productapi.test" {
			t.Fatalf("after the reload the common name is %q", cn)
		}

		// A bad pair (the first key next to a new certificate): logged, and
		// the renewed certificate stays in service.
		if err := os.WriteFile(filepath.Join(dir, "cert.pem"), ca.Issue(t, "third").CertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "key.pem"), first.KeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 20*time.Second, "the bad pair is logged", func() bool {
			return strings.Contains(logs.String(), "tls certificate reload failed")
		})
		if got := servedSerial(h2Get(t, pool, base+"/livez")); got != second.Cert.SerialNumber.String() {
			t.Fatalf("after a bad pair: serial %s, want the renewed %s", got, second.Cert.SerialNumber)
		}
	})
}

// Without the TLS files the service speaks plain HTTP (a TLS-terminating
// balancer in front) and never sends HSTS: over http:// a browser ignores
// it, and a balancer that terminates TLS sets its own.
func TestPlainHTTPSendsNoHSTS(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		addr, _ := serveForTest(t, testConfig(t, kind))
		testkit.Eventually(t, 30*time.Second, "readyz 200", func() bool { return get(t, "http://"+addr+"/readyz").StatusCode == 200 })
		res := get(t, "http://"+addr+"/v1/products")
		if res.StatusCode != 200 || res.ProtoMajor != 1 || res.TLS != nil {
			t.Fatalf("plain HTTP: %d over HTTP/%d (TLS %v)", res.StatusCode, res.ProtoMajor, res.TLS != nil)
		}
		if v := res.Header.Get("Strict-Transport-Security"); v != "" {
			t.Fatalf("HSTS over plain HTTP: %q", v)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatal("the other security headers are missing: is this the real router?")
		}
	})
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// Half a TLS pair, or files that do not load, stop start-up with one line
// naming the variables (before any database connection is made).
func TestTLSMisconfigurationStopsStartup(t *testing.T) {
	dir := t.TempDir()
	for name, env := range map[string]map[string]string{
		"cert without key": {"HTTP_TLS_CERT_FILE": filepath.Join(dir, "cert.pem")},
		"key without cert": {"HTTP_TLS_KEY_FILE": filepath.Join(dir, "key.pem")},
		"missing files":    {"HTTP_TLS_CERT_FILE": filepath.Join(dir, "cert.pem"), "HTTP_TLS_KEY_FILE": filepath.Join(dir, "key.pem")},
		"files not a pair": {"HTTP_TLS_CERT_FILE": filepath.Join(dir, "bad.pem"), "HTTP_TLS_KEY_FILE": filepath.Join(dir, "bad.pem")},
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not PEM"), 0o600); err != nil {
				t.Fatal(err)
			}
			full := map[string]string{"DATA_DIR": t.TempDir(), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn",
				// Unreachable: reaching the database would mean the TLS files were checked too late.
				"DATABASE_URL": "postgres://nobody@127.0.0.1:1/x?connect_timeout=1"}
			for k, v := range env {
				full[k] = v
			}
			err := Run(context.Background(), nil, getenvFor(full), &bytes.Buffer{})
			if err == nil {
				t.Fatal("start-up succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, "HTTP_TLS_CERT_FILE/HTTP_TLS_KEY_FILE") || strings.Contains(msg, "\n") {
				t.Fatalf("want one line naming HTTP_TLS_CERT_FILE/HTTP_TLS_KEY_FILE, got %q", msg)
			}
		})
	}
}

// The compose load balancer terminates TLS on :8443 (HTTP/2 by ALPN, TLS
// 1.2+), tells the app the scheme and sets HSTS itself (the app sees plain
// HTTP and sends none). With haproxy installed, the whole file passes
// `haproxy -c` with a throwaway PEM in place of the mounted one.
func TestHAProxyTLSFrontend(t *testing.T) {
	const mounted = "/usr/local/etc/haproxy/certs/productapi.pem"
	raw, err := os.ReadFile("configs/haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	_, tlsFrontend, ok := strings.Cut(cfg, "\nfrontend lb_tls\n")
	if !ok {
		t.Fatal("configs/haproxy/haproxy.cfg: no frontend lb_tls")
	}
	tlsFrontend, _, _ = strings.Cut(tlsFrontend, "\n\n")
	for _, want := range []string{"bind :8443 ssl crt " + mounted + " alpn h2,http/1.1 ssl-min-ver TLSv1.2",
		"http-request set-header X-Forwarded-Proto https", `http-response set-header Strict-Transport-Security "max-age=`,
		"http-request del-header X-Forwarded-For", "default_backend productapi"} {
		if !strings.Contains(tlsFrontend, want) {
			t.Errorf("frontend lb_tls lacks %q", want)
		}
	}
	compose := string(must(os.ReadFile("docker-compose.yml")))
	if !strings.Contains(compose, `"8443:8443"`) || !strings.Contains(compose, "./configs/haproxy/certs:/usr/local/etc/haproxy/certs:ro") {
		t.Error("docker-compose.yml: the lb must publish 8443 and mount configs/haproxy/certs")
	}
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		testkit.Unavailable(t, "REQUIRE_HAPROXY", "haproxy is not installed (apt-get install haproxy): the TLS frontend is not checked by haproxy -c")
	}
	dir := t.TempDir()
	pair := certtest.NewCA(t).Issue(t, "localhost")
	pem := filepath.Join(dir, "productapi.pem")
	if err := os.WriteFile(pem, append(pair.CertPEM, pair.KeyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	checked := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(checked, []byte(strings.ReplaceAll(cfg, mounted, pem)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-q", "-f", checked).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
