package config

import (
	"strings"
	"testing"
	"time"
)

func TestTLSSettings(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load("", env(map[string]string{"HTTP_TLS_CERT_FILE": "/etc/tls/cert.pem", "HTTP_TLS_KEY_FILE": "/etc/tls/key.pem"}))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.HTTP.TLS() || cfg.HTTP.TLSCertFile != "/etc/tls/cert.pem" || cfg.HTTP.TLSKeyFile != "/etc/tls/key.pem" || cfg.HTTP.TLSReloadInterval != 10*time.Second {
		t.Fatalf("TLS settings not applied: %+v", cfg.HTTP)
	}
	if cfg, _ := Load("", env(nil)); cfg.HTTP.TLS() {
		t.Fatal("TLS on without files")
	}
	// Half a pair is a mistake, not plain HTTP: one line naming both variables.
	for _, half := range []map[string]string{{"HTTP_TLS_CERT_FILE": "/c.pem"}, {"HTTP_TLS_KEY_FILE": "/k.pem"}} {
		_, err := Load("", env(half))
		if err == nil || !strings.Contains(err.Error(), "HTTP_TLS_CERT_FILE/HTTP_TLS_KEY_FILE") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%v: got %v", half, err)
		}
	}
	cfg = Defaults()
	cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile, cfg.HTTP.TLSReloadInterval = "/c.pem", "/k.pem", 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "http.tls_reload_interval") {
		t.Fatalf("zero reload interval: %v", err)
	}
}
