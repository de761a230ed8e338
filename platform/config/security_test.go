package config

import (
	"errors"
	"strings"
	"testing"
)

func TestSecuritySettings(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	t.Chdir(t.TempDir()) // no config file: defaults + environment

	cfg, err := Load("", env(map[string]string{"OIDC_ISSUER": "https://id.example.com/realms/shop", "OIDC_AUDIENCE": "productapi",
		"CORS_ALLOWED_ORIGINS": "https://shop.example.com, http://localhost:5173"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.OIDC.Issuer != "https://id.example.com/realms/shop" || cfg.Auth.OIDC.RoleClaim != "roles" || cfg.Auth.OIDC.AdminValue != "admin" {
		t.Errorf("oidc = %+v", cfg.Auth.OIDC)
	}
	if got := strings.Join(cfg.HTTP.CORS.AllowedOrigins, " "); got != "https://shop.example.com http://localhost:5173" {
		t.Errorf("origins = %q", got)
	}
	if cfg.HTTP.MaxHeaderBytes != 64<<10 {
		t.Errorf("max header bytes = %d", cfg.HTTP.MaxHeaderBytes)
	}

	for name, tc := range map[string]struct {
		env     map[string]string
		mod     func(*Config)
		setting string
	}{
		"issuer without audience": {env: map[string]string{"OIDC_ISSUER": "https://id.example.com"}, setting: "OIDC_AUDIENCE"},
		"issuer not a URL":        {env: map[string]string{"OIDC_ISSUER": "id.example.com", "OIDC_AUDIENCE": "a"}, setting: "OIDC_ISSUER"},
		"bad jwks url":            {env: map[string]string{"OIDC_ISSUER": "https://id", "OIDC_AUDIENCE": "a", "OIDC_JWKS_URL": "ftp://x"}, setting: "OIDC_JWKS_URL"},
		"origin with a path":      {env: map[string]string{"CORS_ALLOWED_ORIGINS": "https://shop.example.com/app"}, setting: "CORS_ALLOWED_ORIGINS"},
		"star with credentials": {env: map[string]string{"CORS_ALLOWED_ORIGINS": "*"},
			mod: func(c *Config) { c.HTTP.CORS.AllowCredentials = true }, setting: "CORS_ALLOWED_ORIGINS"},
		"tiny header limit": {mod: func(c *Config) { c.HTTP.MaxHeaderBytes = 100 }, setting: "http.max_header_bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load("", env(tc.env))
			if tc.mod != nil && err == nil {
				tc.mod(&cfg)
				err = cfg.Validate()
			}
			var ce *Error
			if !errors.As(err, &ce) || !strings.Contains(ce.Setting, tc.setting) {
				t.Fatalf("err = %v, want one naming %s", err, tc.setting)
			}
		})
	}
}
