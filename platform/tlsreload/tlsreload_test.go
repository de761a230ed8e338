package tlsreload

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/certtest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func serialOf(r *Reloader) string { return r.Current().Leaf.SerialNumber.String() }

func TestStartRefusesAMissingOrBadPair(t *testing.T) {
	ca := certtest.NewCA(t)
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	if _, err := New(filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key"), log); err == nil {
		t.Fatal("missing files accepted")
	}
	a, b := ca.Issue(t, "a"), ca.Issue(t, "b")
	certFile, keyFile := a.Write(t, dir)
	if err := os.WriteFile(keyFile, b.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(certFile, keyFile, log); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("mismatched key: %v", err)
	}
}

// A renewal is picked up; a bad pair keeps the previous certificate and is
// logged once however many rounds see it; fixing it is picked up again.
func TestReloadSwapsGoodPairsOnly(t *testing.T) {
	ca := certtest.NewCA(t)
	dir := t.TempDir()
	logs := &lockedBuffer{}
	first := ca.Issue(t, "first")
	certFile, keyFile := first.Write(t, dir)
	r, err := New(certFile, keyFile, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.GetCertificate(nil); got.Leaf.Subject.CommonName != "first" {
		t.Fatalf("serving %q", got.Leaf.Subject.CommonName)
	}
	if changed, err := r.Reload(); changed || err != nil {
		t.Fatalf("unchanged files: changed=%v err=%v", changed, err)
	}

	second := ca.Issue(t, "second")
	second.Write(t, dir)
	if changed, err := r.Reload(); !changed || err != nil || serialOf(r) != second.Cert.SerialNumber.String() {
		t.Fatalf("renewal: changed=%v err=%v serial=%s", changed, err, serialOf(r))
	}

	// The certificate of a third pair next to the second's key: rejected.
	third := ca.Issue(t, "third")
	if err := os.WriteFile(certFile, third.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if changed, err := r.Reload(); changed || err == nil {
			t.Fatalf("mismatched pair: changed=%v err=%v", changed, err)
		}
	}
	if serialOf(r) != second.Cert.SerialNumber.String() {
		t.Fatal("a bad pair replaced the certificate")
	}
	if n := strings.Count(logs.String(), "reload failed"); n != 1 {
		t.Fatalf("bad pair logged %d times, want once:\n%s", n, logs)
	}
	// Files gone (a botched deploy): still the previous certificate.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(); err == nil || serialOf(r) != second.Cert.SerialNumber.String() {
		t.Fatalf("missing key: err=%v serial=%s", err, serialOf(r))
	}
	if err := os.WriteFile(keyFile, third.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := r.Reload(); !changed || err != nil || serialOf(r) != third.Cert.SerialNumber.String() {
		t.Fatalf("fixed pair: changed=%v err=%v", changed, err)
	}
}

func TestRunPicksUpANewPair(t *testing.T) {
	ca := certtest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, "old").Write(t, dir)
	r, err := New(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	next := ca.Issue(t, "new")
	next.Write(t, dir)
	testkit.Eventually(t, 20*time.Second, "the new pair to be picked up", func() bool {
		return serialOf(r) == next.Cert.SerialNumber.String()
	})
}
