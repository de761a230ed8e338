package auth

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	oldKey = []byte("old-key-old-key-old-key-old-key-0")
	newKey = []byte("new-key-new-key-new-key-new-key-1")
)

func headerKid(t *testing.T, token string) string {
	t.Helper()
	tk, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tk.Header["kid"].(string)
	return kid
}

func TestKeyIDIsStableAndShort(t *testing.T) {
	if KeyID(oldKey) != KeyID(append([]byte(nil), oldKey...)) {
		t.Fatal("kid differs for the same key")
	}
	if KeyID(oldKey) == KeyID(newKey) || len(KeyID(oldKey)) != 16 {
		t.Fatalf("kids %q %q", KeyID(oldKey), KeyID(newKey))
	}
	if strings.Contains(KeyID(oldKey), string(oldKey[:8])) {
		t.Fatal("kid reveals the key")
	}
}

// A token signed before a rotation stays valid while the old key is listed
// as previous; the new key signs; dropping the old key ends it.
func TestKeyRotation(t *testing.T) {
	before := NewTokens(oldKey, "productapi", time.Minute)
	oldTok, err := before.Issue("user-1", RoleCustomer)
	if err != nil {
		t.Fatal(err)
	}
	if headerKid(t, oldTok) != KeyID(oldKey) {
		t.Fatalf("kid %q, want %q", headerKid(t, oldTok), KeyID(oldKey))
	}

	after := NewTokens(newKey, "productapi", time.Minute, WithPreviousKeys(oldKey))
	if p, err := after.Verify(oldTok); err != nil || p.UserID != "user-1" {
		t.Fatalf("old token after rotation: %+v, %v", p, err)
	}
	newTok, _ := after.Issue("user-2", RoleAdmin)
	if headerKid(t, newTok) != KeyID(newKey) {
		t.Fatal("the new key does not sign")
	}
	if _, err := before.Verify(newTok); err == nil {
		t.Fatal("an instance without the new key accepted its token")
	}
	retired := NewTokens(newKey, "productapi", time.Minute)
	if _, err := retired.Verify(oldTok); err == nil {
		t.Fatal("token of a retired key accepted")
	}
	// A previous key cannot be made to sign by naming it: the header kid
	// only selects the verification key, and the signature must match it.
	forged := strings.Split(newTok, ".")
	if _, err := after.Verify(forged[0] + "." + forged[1] + ".AAAA"); err == nil {
		t.Fatal("bad signature accepted")
	}
}

func TestAMRAndMFA(t *testing.T) {
	tok := NewTokens(testKey, "productapi", time.Minute)
	pwd, _ := tok.Issue("u", RoleAdmin)
	otp, _ := tok.IssueAMR("u", RoleAdmin, []string{AMRPassword, AMROTP})
	if p, _ := tok.Verify(pwd); p.MFA {
		t.Fatal("password-only token has MFA")
	}
	if p, err := tok.Verify(otp); err != nil || !p.MFA {
		t.Fatalf("otp token: %+v, %v", p, err)
	}
}

func TestAudience(t *testing.T) {
	a := NewTokens(testKey, "productapi", time.Minute, WithAudience("svc-a"))
	b := NewTokens(testKey, "productapi", time.Minute, WithAudience("svc-b"))
	s, _ := a.Issue("u", RoleCustomer)
	if _, err := a.Verify(s); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(s); err == nil {
		t.Fatal("token for another audience accepted")
	}
}

func TestMFAChallenge(t *testing.T) {
	now := time.Now()
	tok := NewTokens(testKey, "productapi", time.Minute, withClock(func() time.Time { return now }))
	ch, err := tok.IssueMFAChallenge("user-9")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := tok.VerifyMFAChallenge(ch); err != nil || id != "user-9" {
		t.Fatalf("challenge: %q, %v", id, err)
	}
	access, _ := tok.Issue("user-9", RoleCustomer)
	if _, err := tok.VerifyMFAChallenge(access); err == nil {
		t.Fatal("access token accepted as an MFA challenge")
	}
	now = now.Add(MFAChallengeTTL + time.Minute)
	if _, err := tok.VerifyMFAChallenge(ch); err == nil {
		t.Fatal("expired challenge accepted")
	}
}

func TestParseBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc":    "abc",
		"bearer abc":    "abc",
		"BEARER  abc  ": "abc",
		"Bearer":        "",
		"Bearer ":       "",
		"Basic abc":     "",
		"Bearer a b":    "",
		"Bearerabc":     "",
		"":              "",
	} {
		got, ok := ParseBearer(h)
		if got != want || ok != (want != "") {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}

func TestSecretBox(t *testing.T) {
	box, err := NewSecretBox("totp", oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal([]byte("JBSWY3DPEHPK3PXP"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "JBSWY3DP") {
		t.Fatal("plaintext visible")
	}
	again, _ := box.Seal([]byte("JBSWY3DPEHPK3PXP"))
	if again == sealed {
		t.Fatal("nonce reused")
	}
	rotated, _ := NewSecretBox("totp", newKey, oldKey)
	if pt, err := rotated.Open(sealed); err != nil || !bytes.Equal(pt, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatalf("open after rotation: %q, %v", pt, err)
	}
	other, _ := NewSecretBox("other-purpose", oldKey)
	if _, err := other.Open(sealed); err == nil {
		t.Fatal("opened under another purpose")
	}
	fresh, _ := NewSecretBox("totp", newKey)
	if _, err := fresh.Open(sealed); err == nil {
		t.Fatal("opened without the sealing key")
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	for _, s := range []string{tampered, "", "v1..", "v2." + KeyID(oldKey) + ".AAAA", "v1." + KeyID(oldKey) + ".!!"} {
		if _, err := box.Open(s); err == nil {
			t.Errorf("Open(%q) succeeded", s)
		}
	}
}

func TestMFAPolicy(t *testing.T) {
	if _, err := NewMFAPolicy([]string{"admin.nope"}); err == nil {
		t.Fatal("unknown group accepted")
	}
	p, _ := NewMFAPolicy([]string{"admin.flags"})
	if !p.Required("admin.flags") || p.Required("admin.users") {
		t.Fatal("single group")
	}
	all, _ := NewMFAPolicy([]string{"admin"})
	if !all.Required("admin.audit") || !all.Required("admin.users") {
		t.Fatal("admin covers every admin group")
	}
	var none *MFAPolicy
	if none.Required("admin") {
		t.Fatal("nil policy requires MFA")
	}
}
