package config

import (
	"fmt"
	"net/url"
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

func (c CORS) validate() error {
	const setting = "CORS_ALLOWED_ORIGINS (http.cors.allowed_origins)"
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			if c.AllowCredentials {
				return &Error{Setting: setting, Problem: `"*" cannot be combined with allow_credentials: list the origins`}
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return &Error{Setting: setting, Problem: fmt.Sprintf("%q is not an origin (scheme://host[:port])", o)}
		}
	}
	return nil
}

// validate checks auth.oidc when an issuer is set (else OIDC is off and
// the rest is ignored).
func (o OIDC) validate() error {
	if o.Issuer == "" {
		return nil
	}
	return firstProblem(
		urlSetting("OIDC_ISSUER (auth.oidc.issuer)", o.Issuer, "https", "http"),
		urlSetting("OIDC_JWKS_URL (auth.oidc.jwks_url)", o.JWKSURL, "https", "http"),
		problemIf(o.Audience == "", "OIDC_AUDIENCE (auth.oidc.audience)", "required when OIDC_ISSUER is set"),
		problemIf(o.RoleClaim == "" || o.AdminValue == "", "auth.oidc.role_claim/admin_value", "must not be empty"),
		problemIf(o.JWKSRefresh <= 0 || o.UnknownKIDRefresh <= 0, "auth.oidc.jwks_refresh/unknown_kid_refresh", "must be positive"),
	)
}
