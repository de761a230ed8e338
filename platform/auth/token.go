// Package auth issues and verifies access tokens, hashes passwords and
// provides the Gin middleware that turns a Bearer token into a Principal.
// It knows roles as strings only; the users module owns what they mean.
package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles of the contract.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
)

// Principal is the authenticated caller.
type Principal struct {
	UserID string
	Role   string
}

// IsAdmin reports whether the caller has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// Tokens signs and verifies short-lived HS256 access tokens. Every instance
// must share the key (AUTH_SIGNING_KEY) so any of them accepts any token.
type Tokens struct {
	key    []byte
	issuer string
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens builds a signer/verifier.
func NewTokens(key []byte, issuer string, ttl time.Duration) *Tokens {
	return &Tokens{key: key, issuer: issuer, ttl: ttl, now: time.Now}
}

// TTL is the access-token lifetime.
func (t *Tokens) TTL() time.Duration { return t.ttl }

type claims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// Issue signs an access token for the user.
func (t *Tokens) Issue(userID, role string) (string, error) {
	now := t.now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c := claims{Role: role, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   userID,
		Issuer:    t.issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
		ID:        hex.EncodeToString(jti[:]),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
}

// ErrInvalidToken covers every reason a token is refused; the reason is not
// told to the client.
var ErrInvalidToken = errors.New("invalid token")

// Verify checks signature, algorithm, issuer and lifetime.
func (t *Tokens) Verify(token string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil || c.Subject == "" || (c.Role != RoleCustomer && c.Role != RoleAdmin) {
		return Principal{}, ErrInvalidToken
	}
	return Principal{UserID: c.Subject, Role: c.Role}, nil
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
