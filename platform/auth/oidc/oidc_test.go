package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"example.com/productapi/platform/auth"
)

// issuer is a local OIDC issuer: discovery, a JWKS it can rotate, and a
// count of JWKS fetches.
type issuer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	fetches atomic.Int64
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	is := &issuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": is.keys})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (is *issuer) setKeys(keys ...map[string]string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = keys
}

func rsaJWK(t testing.TB, kid string) (*rsa.PrivateKey, map[string]string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(t testing.TB, kid string) (*ecdsa.PrivateKey, map[string]string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pad := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	return k, map[string]string{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
		"x": b64(pad(k.X.Bytes())), "y": b64(pad(k.Y.Bytes()))}
}

func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type provisioned struct {
	mu  sync.Mutex
	ids []Identity
}

func (p *provisioned) provision(_ context.Context, id Identity) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, id)
	return "local-" + id.Subject, nil
}

func TestVerifier(t *testing.T) {
	is := newIssuer(t)
	rk, rjwk := rsaJWK(t, "rsa-1")
	ek, ejwk := ecJWK(t, "ec-1")
	is.setKeys(rjwk, ejwk)
	var prov provisioned
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := New(ctx, Config{Issuer: is.srv.URL, Audience: "productapi", RoleClaim: "realm_access.roles", AdminValue: "shop-admin",
		UnknownKIDRefresh: time.Hour}, prov.provision, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.JWKSURL() != is.srv.URL+"/keys" {
		t.Fatalf("discovered JWKS URL %q", v.JWKSURL())
	}
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": is.srv.URL, "aud": []string{"other", "productapi"}, "sub": "alice",
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "email": "alice@idp.example", "name": "Alice"}
		if mod != nil {
			mod(c)
		}
		return c
	}
	adminRoles := func(c jwt.MapClaims) { c["realm_access"] = map[string]any{"roles": []string{"reader", "shop-admin"}} }

	ok := []struct {
		name  string
		token string
		role  string
	}{
		{"RS256 customer", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(nil)), auth.RoleCustomer},
		{"RS256 admin", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(adminRoles)), auth.RoleAdmin},
		{"ES256 customer", sign(t, jwt.SigningMethodES256, ek, "ec-1", claims(func(c jwt.MapClaims) {
			c["realm_access"] = map[string]any{"roles": []string{"shop-admin-not"}}
		})), auth.RoleCustomer},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(ctx, tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if p.UserID != "local-"+is.srv.URL+"|alice" || p.Role != tc.role {
				t.Fatalf("principal %+v, want role %s", p, tc.role)
			}
		})
	}
	prov.mu.Lock()
	if got := prov.ids[0]; got.Email != "alice@idp.example" || got.Name != "Alice" || got.Subject != is.srv.URL+"|alice" {
		t.Errorf("identity %+v", got)
	}
	prov.mu.Unlock()

	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	hs.Header["kid"] = "rsa-1"
	hsToken, _ := hs.SignedString([]byte("a-shared-secret-an-attacker-knows"))
	otherKey, _ := rsaJWK(t, "rsa-1")
	bad := map[string]string{
		"wrong issuer":    sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })),
		"wrong audience":  sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })),
		"expired":         sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"no exp":          sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"no sub":          sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(func(c jwt.MapClaims) { delete(c, "sub") })),
		"forged key":      sign(t, jwt.SigningMethodRS256, otherKey, "rsa-1", claims(nil)),
		"HS256 confusion": hsToken,
		"garbage":         "not.a.jwt",
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			if p, err := v.Verify(ctx, tok); err == nil {
				t.Fatalf("accepted: %+v", p)
			}
		})
	}

	t.Run("key rotation and rate-limited unknown kid", func(t *testing.T) {
		before := is.fetches.Load()
		// The issuer rotates: the new kid is fetched on first sight.
		rk2, rjwk2 := rsaJWK(t, "rsa-2")
		is.setKeys(rjwk2, ejwk)
		p, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, rk2, "rsa-2", claims(nil)))
		if err != nil || p.Role != auth.RoleCustomer {
			t.Fatalf("rotated key refused: %v", err)
		}
		if got := is.fetches.Load(); got != before+1 {
			t.Fatalf("JWKS fetches %d -> %d, want one refresh", before, got)
		}
		// Made-up kids inside the refresh window: refused, no fetch.
		for i := 0; i < 5; i++ {
			if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, rk2, "made-up", claims(nil))); err == nil {
				t.Fatal("unknown kid accepted")
			}
		}
		if got := is.fetches.Load(); got != before+1 {
			t.Fatalf("unknown kids caused %d more JWKS fetches", got-before-1)
		}
		// The retired key no longer verifies once the set is refreshed.
		if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(nil))); err == nil {
			t.Fatal("retired key still accepted")
		}
	})

	t.Run("tokens of another issuer are not ours", func(t *testing.T) {
		_, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(func(c jwt.MapClaims) { c["iss"] = "productapi" })))
		if !errors.Is(err, ErrNotOurs) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRoleClaimShapes(t *testing.T) {
	cases := []struct {
		claims map[string]any
		path   string
		want   bool
	}{
		{map[string]any{"role": "admin"}, "role", true},
		{map[string]any{"role": "customer"}, "role", false},
		{map[string]any{"roles": []any{"x", "admin"}}, "roles", true},
		{map[string]any{"roles": []any{1, "y"}}, "roles", false},
		{map[string]any{"a": map[string]any{"b": []any{"admin"}}}, "a.b", true},
		{map[string]any{"a": "admin"}, "a.b", false},
		{map[string]any{"role": "admin"}, "", false},
	}
	for _, c := range cases {
		if got := hasValue(lookup(c.claims, c.path), "admin"); got != c.want {
			t.Errorf("%v at %q: %v, want %v", c.claims, c.path, got, c.want)
		}
	}
	if hasValue("", "") {
		t.Error("an empty admin value must never match")
	}
}

func TestNewNeedsIssuerAudienceProvision(t *testing.T) {
	if _, err := New(context.Background(), Config{Issuer: "https://x"}, func(context.Context, Identity) (string, error) { return "", nil }, nil); err == nil {
		t.Fatal("no audience accepted")
	}
}
