// Package oidc makes the service an OAuth 2.0 resource server for an
// external OpenID Connect issuer: it accepts the issuer's Bearer access
// tokens, verified against the issuer's JWKS (RS256 and ES256 only; iss,
// aud and exp checked), and maps them to a local principal. The JWKS is
// fetched with github.com/MicahParks/keyfunc/v3: cached, refreshed
// periodically and on an unknown key ID (rate-limited, so a stream of
// tokens with made-up kids cannot hammer the issuer nor stall requests).
//
// It knows nothing of the users module: the caller passes a Provision
// function that maps the external subject to a local user ID (just-in-time
// provisioning), so orders and /users/me work with a local UUID.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"example.com/productapi/platform/auth"
)

// Config is auth.oidc of the service configuration.
type Config struct {
	// Issuer is the exact `iss` of accepted tokens; empty disables OIDC.
	Issuer string
	// JWKSURL is the issuer's key set; empty = the jwks_uri of the issuer's
	// discovery document (<issuer>/.well-known/openid-configuration), or
	// <issuer>/.well-known/jwks.json when discovery fails.
	JWKSURL string
	// Audience must be one of the token's `aud` values.
	Audience string
	// RoleClaim names the claim holding roles ("roles", "role", or a dotted
	// path such as "realm_access.roles"); a string or an array of strings.
	RoleClaim string
	// AdminValue is the claim value that makes the caller an admin; any
	// other caller is a customer.
	AdminValue string
	// RefreshInterval is the periodic JWKS refresh (default 1h).
	RefreshInterval time.Duration
	// UnknownKIDRefresh is the least time between two refreshes caused by an
	// unknown key ID (default 1m).
	UnknownKIDRefresh time.Duration
	// HTTPClient fetches discovery and JWKS (default: 5 s timeout).
	HTTPClient *http.Client
}

// Identity is what the provisioning function learns of an external caller.
type Identity struct {
	// Subject is "<issuer>|<sub>": unique across issuers.
	Subject string
	Email   string // the `email` claim when present
	Name    string // the `name` claim when present
	Role    string // auth.RoleAdmin or auth.RoleCustomer, from RoleClaim
}

// Provision returns the local user ID of an external identity, creating
// the account on first sight.
type Provision func(ctx context.Context, id Identity) (userID string, err error)

// Verifier checks external access tokens. It implements auth.External.
type Verifier struct {
	cfg       Config
	kf        keyfunc.Keyfunc
	provision Provision
	log       *slog.Logger
	parser    *jwt.Parser
}

var errConfig = errors.New("oidc: issuer, audience and a provisioning function are required")

// New fetches the key set (a failure is logged, not fatal: the issuer may
// be down at start; keys are fetched again on the first token) and returns
// a verifier. ctx bounds the background refresh.
func New(ctx context.Context, cfg Config, provision Provision, log *slog.Logger) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || provision == nil {
		return nil, errConfig
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = time.Hour
	}
	if cfg.UnknownKIDRefresh <= 0 {
		cfg.UnknownKIDRefresh = time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = discoverJWKS(ctx, cfg.HTTPClient, cfg.Issuer, log)
	}
	wait := cfg.HTTPClient.Timeout
	if wait <= 0 {
		wait = 5 * time.Second
	}
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:            cfg.HTTPClient,
		HTTPTimeout:       wait,
		RefreshInterval:   cfg.RefreshInterval,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(cfg.UnknownKIDRefresh), 1),
		// This bounds the limiter wait and the refresh it allows together.
		// The limiter refuses at once when the next refresh is further
		// away than this, so (with UnknownKIDRefresh well above the HTTP
		// timeout) a token with a made-up kid inside the window is refused
		// without waiting.
		RateLimitWaitMax: wait,
		RefreshErrorHandlerFunc: func(u string) func(ctx context.Context, err error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "oidc: JWKS refresh failed", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("oidc: JWKS %s: %w", cfg.JWKSURL, err)
	}
	return &Verifier{cfg: cfg, kf: kf, provision: provision, log: log,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(30*time.Second),
		)}, nil
}

// JWKSURL is the key set URL in use.
func (v *Verifier) JWKSURL() string { return v.cfg.JWKSURL }

// discoverJWKS reads jwks_uri from the issuer's discovery document.
func discoverJWKS(ctx context.Context, client *http.Client, issuer string, log *slog.Logger) string {
	base := strings.TrimRight(issuer, "/")
	fallback := base + "/.well-known/jwks.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/openid-configuration", nil)
	if err != nil {
		return fallback
	}
	res, err := client.Do(req)
	if err != nil {
		log.WarnContext(ctx, "oidc: discovery failed; using the conventional JWKS path", "err", err, "jwks_url", fallback)
		return fallback
	}
	defer res.Body.Close()
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(http.MaxBytesReader(nil, res.Body, 1<<20)).Decode(&doc) != nil || doc.JWKSURI == "" {
		log.WarnContext(ctx, "oidc: no jwks_uri in the discovery document; using the conventional JWKS path", "status", res.StatusCode, "jwks_url", fallback)
		return fallback
	}
	return doc.JWKSURI
}

// ErrNotOurs means the token was not issued by the configured issuer (so
// another verifier may still accept it).
var ErrNotOurs = errors.New("oidc: token from another issuer")

// Verify checks an access token of the issuer and returns the local
// principal. Tokens of other issuers are refused before any key lookup, so
// they never cause a JWKS fetch.
func (v *Verifier) Verify(ctx context.Context, token string) (auth.Principal, error) {
	var unverified jwt.MapClaims
	if _, _, err := v.parser.ParseUnverified(token, &unverified); err != nil {
		return auth.Principal{}, ErrNotOurs
	}
	if iss, _ := unverified["iss"].(string); iss != v.cfg.Issuer {
		return auth.Principal{}, ErrNotOurs
	}
	var claims jwt.MapClaims
	if _, err := v.parser.ParseWithClaims(token, &claims, v.kf.KeyfuncCtx(ctx)); err != nil {
		return auth.Principal{}, fmt.Errorf("oidc: %w", err)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return auth.Principal{}, errors.New("oidc: token without sub")
	}
	id := Identity{Subject: v.cfg.Issuer + "|" + sub, Role: auth.RoleCustomer}
	id.Email, _ = claims["email"].(string)
	id.Name, _ = claims["name"].(string)
	if hasValue(lookup(claims, v.cfg.RoleClaim), v.cfg.AdminValue) {
		id.Role = auth.RoleAdmin
	}
	userID, err := v.provision(ctx, id)
	if err != nil {
		return auth.Principal{}, fmt.Errorf("oidc: provision: %w", err)
	}
	p := auth.Principal{UserID: userID, Role: id.Role}
	if iat, err := claims.GetIssuedAt(); err == nil && iat != nil {
		p.IssuedAt = iat.Time
	}
	return p, nil
}

// lookup follows a dotted claim path ("realm_access.roles").
func lookup(claims map[string]any, path string) any {
	if path == "" {
		return nil
	}
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// hasValue reports whether a claim (a string, or an array of strings)
// holds want.
func hasValue(claim any, want string) bool {
	if want == "" {
		return false
	}
	switch c := claim.(type) {
	case string:
		return c == want
	case []any:
		for _, x := range c {
			if s, ok := x.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}
