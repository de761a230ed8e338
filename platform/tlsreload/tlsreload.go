// Package tlsreload serves a certificate/key pair read from files and picks
// up a replacement without a restart: a renewal (certbot, cert-manager, an
// operator copying files) only has to write the new pair.
//
// Both files are re-read on an interval and compared by content hash
// rather than mtime: a Kubernetes secret volume swaps a symlink, a copy
// may keep the old mtime, and the files are a few kilobytes. A new pair
// that does not load (half written, key not matching the certificate)
// is logged once and the previous certificate stays in service.
package tlsreload

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"example.com/productapi/platform/periodic"
)

// Reloader holds the current certificate. Its GetCertificate goes into
// tls.Config, so each new handshake sees the latest good pair; connections
// already open keep theirs.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]

	mu       sync.Mutex // serialises Reload
	loaded   [sha256.Size]byte
	rejected string // the last failure (content hash and error): logged once, not every round
}

// New loads the pair; an error means the service cannot start with it.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Current is the certificate new handshakes get.
func (r *Reloader) Current() *tls.Certificate { return r.cur.Load() }

// Reload re-reads both files and swaps the certificate when their content
// changed and loads. changed is false when the files are as last loaded,
// or when the new content was rejected (then err says why and the previous
// certificate stays).
func (r *Reloader) Reload() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return false, r.reject([sha256.Size]byte{}, fmt.Errorf("certificate: %w", err))
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return false, r.reject([sha256.Size]byte{}, fmt.Errorf("key: %w", err))
	}
	sum := digest(certPEM, keyPEM)
	if r.cur.Load() != nil && sum == r.loaded {
		return false, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, r.reject(sum, err)
	}
	r.cur.Store(&pair)
	r.loaded, r.rejected = sum, ""
	leaf := pair.Leaf // parsed by X509KeyPair
	r.log.Info("tls certificate loaded", "subject", leaf.Subject.CommonName, "serial", leaf.SerialNumber.Text(16),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	return true, nil
}

// reject logs a failed reload, once for the same content and error.
func (r *Reloader) reject(sum [sha256.Size]byte, err error) error {
	err = fmt.Errorf("tls: %s, %s: %w", r.certFile, r.keyFile, err)
	if r.cur.Load() == nil {
		return err // start-up: the caller reports it
	}
	if key := fmt.Sprintf("%x %v", sum, err); key != r.rejected {
		r.rejected = key
		r.log.Error("tls certificate reload failed; still serving the previous certificate", "err", err)
	}
	return err
}

// Run reloads every interval until ctx ends.
func (r *Reloader) Run(ctx context.Context, every time.Duration) {
	periodic.Every(ctx, every, func(context.Context) { _, _ = r.Reload() })
}

func digest(cert, key []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(cert)
	h.Write([]byte{0}) // the boundary: moving bytes between the files is a change
	h.Write(key)
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s
}
