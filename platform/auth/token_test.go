package auth

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestTokenRoundTrip(t *testing.T) {
	tok := NewTokens(testKey, "productapi", time.Minute)
	s, err := tok.Issue("user-1", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tok.Verify(s)
	if err != nil || p.UserID != "user-1" || !p.IsAdmin() {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
}

// Every forged or stale token is refused.
func TestTokenRejections(t *testing.T) {
	tok := NewTokens(testKey, "productapi", time.Minute)
	good, _ := tok.Issue("user-1", RoleCustomer)
	parts := strings.Split(good, ".")

	sign := func(method jwt.SigningMethod, key any, c jwt.MapClaims) string {
		tk := jwt.NewWithClaims(method, c)
		tk.Header["kid"] = KeyID(testKey)
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "user-1", "role": "admin", "iss": "productapi", "aud": "productapi", "exp": now.Add(time.Minute).Unix()}
	}
	edited := func() string {
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(payload), `"customer"`, `"admin"`, 1)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
	}
	expired := base()
	expired["exp"] = now.Add(-time.Minute).Unix()
	wrongIss := base()
	wrongIss["iss"] = "someone-else"
	noExp := base()
	delete(noExp, "exp")
	badRole := base()
	badRole["role"] = "root"
	noSub := base()
	delete(noSub, "sub")
	wrongAud := base()
	wrongAud["aud"] = "another-service"
	noAud := base()
	delete(noAud, "aud")
	withPurpose := base()
	withPurpose["purpose"] = "mfa"
	signKid := func(kid any, c jwt.MapClaims) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		if kid == nil {
			delete(tk.Header, "kid")
		} else {
			tk.Header["kid"] = kid
		}
		s, err := tk.SignedString(testKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	challenge, err := tok.IssueMFAChallenge("user-1")
	if err != nil {
		t.Fatal(err)
	}
	// The control: the same helper with the right kid is accepted, so each
	// case fails for its own reason.
	if _, err := tok.Verify(signKid(KeyID(testKey), base())); err != nil {
		t.Fatalf("control token refused: %v", err)
	}

	cases := map[string]string{
		"alg none":       sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, base()),
		"wrong key":      sign(jwt.SigningMethodHS256, []byte("another-key-another-key-another!!"), base()),
		"HS512":          sign(jwt.SigningMethodHS512, testKey, base()),
		"edited payload": edited(),
		"expired":        sign(jwt.SigningMethodHS256, testKey, expired),
		"wrong issuer":   sign(jwt.SigningMethodHS256, testKey, wrongIss),
		"no exp":         sign(jwt.SigningMethodHS256, testKey, noExp),
		"unknown role":   sign(jwt.SigningMethodHS256, testKey, badRole),
		"no subject":     sign(jwt.SigningMethodHS256, testKey, noSub),
		"wrong audience": sign(jwt.SigningMethodHS256, testKey, wrongAud),
		"no audience":    sign(jwt.SigningMethodHS256, testKey, noAud),
		"missing kid":    signKid(nil, base()),
		"unknown kid":    signKid("0011223344556677", base()),
		"empty kid":      signKid("", base()),
		"kid not string": signKid(42, base()),
		"mfa challenge":  challenge,
		"purpose claim":  sign(jwt.SigningMethodHS256, testKey, withPurpose),
		"garbage":        "abc.def.ghi",
		"empty":          "",
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if p, err := tok.Verify(s); err == nil {
				t.Errorf("accepted as %+v", p)
			}
		})
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash %q is not argon2id PHC", h)
	}
	if ok, err := VerifyPassword(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if ok, _ := VerifyPassword(h, "wrong"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := HashPassword("correct horse battery")
	if h2 == h {
		t.Fatal("hashes are not salted")
	}
	if ok, err := VerifyPassword("$argon2id$garbage", "x"); ok || err == nil {
		t.Fatal("malformed hash accepted")
	}
}

func TestLoadOrCreateKeyPersists(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateKey("", dir)
	if err != nil || len(k1) < 32 {
		t.Fatalf("key %q, %v", k1, err)
	}
	k2, _ := LoadOrCreateKey("", dir)
	if string(k1) != string(k2) {
		t.Fatal("key changed between starts")
	}
	fi, err := os.Stat(filepath.Join(dir, "auth_signing_key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	if k, _ := LoadOrCreateKey("configured-key-configured-key-123", dir); string(k) != "configured-key-configured-key-123" {
		t.Fatal("configured key ignored")
	}
}
