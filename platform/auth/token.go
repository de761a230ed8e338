// Package auth issues and verifies access tokens, hashes passwords and
// provides the Gin middleware that turns a Bearer token into a Principal.
// It knows roles as strings only; the users module owns what they mean.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles of the contract.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
)

// Principal is the authenticated caller. MFA is true when the access token
// was issued after a second factor (its amr claim holds "otp").
type Principal struct {
	UserID string
	Role   string
	MFA    bool
	// IssuedAt is the token's iat (zero when the token has none): read
	// routing sends a session that just began to the primary.
	IssuedAt time.Time
}

// IsAdmin reports whether the caller has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// Authentication methods (RFC 8176) carried in the amr claim.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
)

// DefaultAudience is the aud claim when none is configured.
const DefaultAudience = "productapi"

// Tokens signs and verifies short-lived HS256 access tokens. Every instance
// must share the key (AUTH_SIGNING_KEY) so any of them accepts any token.
// The current key signs; previous keys (WithPreviousKeys) still verify, so
// the key can rotate without logging everyone out. Each key is named in the
// JWT header by its kid, derived from the key itself (KeyID), so instances
// agree without further configuration.
type Tokens struct {
	key      []byte
	kid      string
	verify   map[string][]byte // kid -> key: the current and previous keys
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// Option configures Tokens.
type Option func(*Tokens)

// WithPreviousKeys adds keys that still verify but no longer sign.
func WithPreviousKeys(keys ...[]byte) Option {
	return func(t *Tokens) {
		for _, k := range keys {
			if len(k) > 0 {
				t.verify[KeyID(k)] = k
			}
		}
	}
}

// WithAudience sets the aud claim issued and required (default "productapi").
func WithAudience(aud string) Option {
	return func(t *Tokens) {
		if aud != "" {
			t.audience = aud
		}
	}
}

// withClock replaces time.Now (tests).
func withClock(now func() time.Time) Option { return func(t *Tokens) { t.now = now } }

// NewTokens builds a signer/verifier.
func NewTokens(key []byte, issuer string, ttl time.Duration, opts ...Option) *Tokens {
	t := &Tokens{key: key, kid: KeyID(key), verify: map[string][]byte{}, issuer: issuer,
		audience: DefaultAudience, ttl: ttl, now: time.Now}
	for _, o := range opts {
		o(t)
	}
	t.verify[t.kid] = key
	return t
}

// KeyID names a key without revealing it: the first 8 bytes of its SHA-256,
// in hex.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// TTL is the access-token lifetime.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Keys returns the signing key first, then the previous keys (for
// deriving sub-keys that must survive a rotation, e.g. encrypted secrets).
func (t *Tokens) Keys() [][]byte {
	out := [][]byte{t.key}
	for kid, k := range t.verify {
		if kid != t.kid {
			out = append(out, k)
		}
	}
	return out
}

type claims struct {
	Role    string   `json:"role,omitempty"`
	AMR     []string `json:"amr,omitempty"`
	Purpose string   `json:"purpose,omitempty"` // "" = access token; "mfa" = MFA challenge
	jwt.RegisteredClaims
}

// Issue signs an access token for a password login.
func (t *Tokens) Issue(userID, role string) (string, error) {
	return t.IssueAMR(userID, role, []string{AMRPassword})
}

// IssueAMR signs an access token recording how the user authenticated.
func (t *Tokens) IssueAMR(userID, role string, amr []string) (string, error) {
	return t.sign(claims{Role: role, AMR: amr}, userID, t.audience, t.ttl)
}

func (t *Tokens) sign(c claims, subject, audience string, ttl time.Duration) (string, error) {
	now := t.now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c.RegisteredClaims = jwt.RegisteredClaims{
		Subject:   subject,
		Issuer:    t.issuer,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID:        hex.EncodeToString(jti[:]),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = t.kid
	return tok.SignedString(t.key)
}

// ErrInvalidToken covers every reason a token is refused; the reason is not
// told to the client.
var ErrInvalidToken = errors.New("invalid token")

func (t *Tokens) parse(token, audience string) (claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		key, ok := t.verify[kid]
		if !ok {
			return nil, ErrInvalidToken
		}
		return key, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil || c.Subject == "" {
		return claims{}, ErrInvalidToken
	}
	return c, nil
}

// Verify checks signature, key ID, algorithm, issuer, audience and
// lifetime of an access token.
func (t *Tokens) Verify(token string) (Principal, error) {
	c, err := t.parse(token, t.audience)
	if err != nil || c.Purpose != "" || (c.Role != RoleCustomer && c.Role != RoleAdmin) {
		return Principal{}, ErrInvalidToken
	}
	p := Principal{UserID: c.Subject, Role: c.Role, MFA: slices.Contains(c.AMR, AMROTP)}
	if c.IssuedAt != nil {
		p.IssuedAt = c.IssuedAt.Time
	}
	return p, nil
}

// MFAChallengeTTL bounds the time between the password and the code.
const MFAChallengeTTL = 5 * time.Minute

// mfaAudience keeps challenge tokens from ever passing as access tokens.
func (t *Tokens) mfaAudience() string { return t.audience + "#mfa" }

// IssueMFAChallenge signs the short-lived, single-purpose token a password
// login of an MFA user returns; only VerifyMFAChallenge accepts it.
func (t *Tokens) IssueMFAChallenge(userID string) (string, error) {
	return t.sign(claims{Purpose: "mfa"}, userID, t.mfaAudience(), MFAChallengeTTL)
}

// VerifyMFAChallenge returns the user ID of a valid MFA challenge token.
func (t *Tokens) VerifyMFAChallenge(token string) (string, error) {
	c, err := t.parse(token, t.mfaAudience())
	if err != nil || c.Purpose != "mfa" {
		return "", ErrInvalidToken
	}
	return c.Subject, nil
}

// LoadOrCreateKey returns the configured key, or one generated once and kept
// in <dataDir>/auth_signing_key (mode 0600) so tokens survive restarts.
func LoadOrCreateKey(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "auth_signing_key")
	if raw, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(raw))
		if len(key) < 32 {
			return nil, fmt.Errorf("%s: key shorter than 32 characters", path)
		}
		return []byte(key), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	key := hex.EncodeToString(b[:])
	// O_EXCL: if two processes race on first start, one wins and the other
	// reads the winner's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKey("", dataDir)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteString(key + "\n"); err != nil {
		return nil, err
	}
	return []byte(key), nil
}
