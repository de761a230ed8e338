package oidc

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary Bearer values to the verifier: it must never
// panic, and whatever it accepts must be the one identity the issuer signed.
func FuzzVerify(f *testing.F) {
	is := newIssuer(f)
	k, jwk := rsaJWK(f, "k1")
	is.setKeys(jwk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var prov provisioned
	v, err := New(ctx, Config{Issuer: is.srv.URL, Audience: "api", RoleClaim: "roles", AdminValue: "admin", UnknownKIDRefresh: time.Hour},
		prov.provision, nil)
	if err != nil {
		f.Fatal(err)
	}
	valid := sign(f, jwt.SigningMethodRS256, k, "k1", jwt.MapClaims{"iss": is.srv.URL, "aud": "api", "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix()})
	for _, seed := range []string{valid, valid + "x", "a.b.c", "", "..", "eyJhbGciOiJub25lIn0.e30.", valid[:len(valid)/2]} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(ctx, token)
		if err == nil && p.UserID != "local-"+is.srv.URL+"|alice" {
			t.Fatalf("accepted a token for %q", p.UserID)
		}
	})
}
