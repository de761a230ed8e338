package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// OIDC is auth.oidc: accept access tokens of an external OpenID Connect
// issuer (platform/auth/oidc). Empty Issuer: off.
type OIDC struct {
	Issuer   string `yaml:"issuer"`
	JWKSURL  string `yaml:"jwks_url"`
	Audience string `yaml:"audience"`
	// RoleClaim is the claim (dotted path allowed) holding roles;
	// AdminValue the value in it that means admin.
	RoleClaim  string `yaml:"role_claim"`
	AdminValue string `yaml:"admin_value"`
	// JWKSRefresh is the periodic key set refresh; UnknownKIDRefresh the
	// least time between refreshes caused by an unknown key ID.
	JWKSRefresh       time.Duration `yaml:"jwks_refresh"`
	UnknownKIDRefresh time.Duration `yaml:"unknown_kid_refresh"`
}

// CORS is http.cors: which browser origins may call the API. No origins:
// no CORS headers at all (same-origin only).
type CORS struct {
	AllowedOrigins   []string      `yaml:"allowed_origins"`
	AllowCredentials bool          `yaml:"allow_credentials"`
	MaxAge           time.Duration `yaml:"max_age"`
}

func defaultOIDC() OIDC {
	return OIDC{RoleClaim: "roles", AdminValue: "admin", JWKSRefresh: time.Hour, UnknownKIDRefresh: time.Minute}
}

func defaultCORS() CORS { return CORS{AllowedOrigins: []string{}, MaxAge: 10 * time.Minute} }

func applySecurityEnv(cfg *Config, getenv func(string) string) {
	str := func(name string, dst *string) {
		if v, ok := lookup(getenv, name); ok {
			*dst = v
		}
	}
	str("OIDC_ISSUER", &cfg.Auth.OIDC.Issuer)
	str("OIDC_AUDIENCE", &cfg.Auth.OIDC.Audience)
	str("OIDC_JWKS_URL", &cfg.Auth.OIDC.JWKSURL)
	if v, ok := lookup(getenv, "CORS_ALLOWED_ORIGINS"); ok {
		cfg.HTTP.CORS.AllowedOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				cfg.HTTP.CORS.AllowedOrigins = append(cfg.HTTP.CORS.AllowedOrigins, o)
			}
		}
	}
}

func (c Config) validateSecurity() error {
	if c.HTTP.MaxHeaderBytes < 4096 {
		return &Error{Setting: "http.max_header_bytes", Problem: "must be at least 4096"}
	}
	for _, o := range c.HTTP.CORS.AllowedOrigins {
		if o == "*" {
			if c.HTTP.CORS.AllowCredentials {
				return &Error{Setting: "CORS_ALLOWED_ORIGINS (http.cors.allowed_origins)", Problem: `"*" cannot be combined with allow_credentials: list the origins`}
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return &Error{Setting: "CORS_ALLOWED_ORIGINS (http.cors.allowed_origins)", Problem: fmt.Sprintf("%q is not an origin (scheme://host[:port])", o)}
		}
	}
	o := c.Auth.OIDC
	if o.Issuer == "" {
		return nil
	}
	if err := checkURL(o.Issuer, "https", "http"); err != nil {
		return &Error{Setting: "OIDC_ISSUER (auth.oidc.issuer)", Problem: err.Error()}
	}
	if o.JWKSURL != "" {
		if err := checkURL(o.JWKSURL, "https", "http"); err != nil {
			return &Error{Setting: "OIDC_JWKS_URL (auth.oidc.jwks_url)", Problem: err.Error()}
		}
	}
	if o.Audience == "" {
		return &Error{Setting: "OIDC_AUDIENCE (auth.oidc.audience)", Problem: "required when OIDC_ISSUER is set"}
	}
	if o.RoleClaim == "" || o.AdminValue == "" {
		return &Error{Setting: "auth.oidc.role_claim/admin_value", Problem: "must not be empty"}
	}
	if o.JWKSRefresh <= 0 || o.UnknownKIDRefresh <= 0 {
		return &Error{Setting: "auth.oidc.jwks_refresh/unknown_kid_refresh", Problem: "must be positive"}
	}
	return nil
}
