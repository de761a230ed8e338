package app

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pquerna/otp/totp"

	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/config"
)

// Token lifecycle and MFA, through the HTTP API, on both stores.

const testSigningKey = "test-signing-key-0123456789abcdef0123456789" // testConfig's AUTH_SIGNING_KEY

// loginTokens logs in and returns the whole token response.
func (s *testServer) loginTokens(email, password string) map[string]any {
	s.t.Helper()
	r := s.do("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	expect(s.t, r, 200)
	return r.JSON(s.t)
}

func (s *testServer) refresh(token string) response {
	s.t.Helper()
	return s.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": token})
}

// problemType is the last segment of a problem's type URI (its code).
func problemType(t *testing.T, r response) string {
	t.Helper()
	typ, _ := r.JSON(t)["type"].(string)
	return typ[strings.LastIndex(typ, "/")+1:]
}

// jwtClaims decodes an access token's payload (the signature is the
// server's business; this reads what it put in).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRefreshTokenRotationAndReuse(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		id, _ := s.register("rita@example.com")

		login := s.loginTokens("rita@example.com", "customer-pass-1")
		r1, _ := login["refresh_token"].(string)
		if login["token_type"] != "Bearer" || login["expires_in"].(float64) <= 0 || !strings.HasPrefix(r1, "rt_") || login["access_token"] == "" {
			t.Fatalf("login response: %v", login)
		}
		if got := jwtClaims(t, login["access_token"].(string)); !equalStrings(got["aud"], "productapi") || !equalStrings(got["amr"], "pwd") {
			t.Fatalf("access claims: %v", got)
		}

		// Rotation: a new pair; the new access token works.
		rot := s.refresh(r1)
		expect(t, rot, 200)
		if rot.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("refresh response cacheable: %v", rot.Header)
		}
		r2 := rot.JSON(t)["refresh_token"].(string)
		if r2 == r1 || !strings.HasPrefix(r2, "rt_") {
			t.Fatalf("refresh token not rotated: %q", r2)
		}
		expect(t, s.do("GET", "/v1/users/me", rot.JSON(t)["access_token"].(string), nil), 200)

		// Reusing r1 is refused and revokes the family: r2 stops working.
		reuse := s.refresh(r1)
		expect(t, reuse, 401)
		if problemType(t, reuse) != "users.invalid_refresh_token" {
			t.Fatalf("reuse problem: %s", reuse.Body)
		}
		expect(t, s.refresh(r2), 401)

		// Another login is another family, untouched by that revocation.
		r3 := s.loginTokens("rita@example.com", "customer-pass-1")["refresh_token"].(string)
		r4 := s.refresh(r3)
		expect(t, r4, 200)

		// Logout revokes the family; idempotent; unknown tokens are 204 too.
		r4tok := r4.JSON(t)["refresh_token"].(string)
		expect(t, s.do("POST", "/v1/auth/logout", "", map[string]string{"refresh_token": r4tok}), 204)
		expect(t, s.refresh(r4tok), 401)
		expect(t, s.do("POST", "/v1/auth/logout", "", map[string]string{"refresh_token": r4tok}), 204)
		expect(t, s.do("POST", "/v1/auth/logout", "", map[string]string{"refresh_token": "rt_unknown"}), 204)

		// An expired refresh token is refused.
		exp := s.loginTokens("rita@example.com", "customer-pass-1")["refresh_token"].(string)
		sum := sha256.Sum256([]byte(exp))
		if err := s.app.db.Gorm.Table("user_refresh_tokens").Where("token_hash = ?", hex.EncodeToString(sum[:])).
			Update("expires_at", time.Now().Add(-time.Second).UTC()).Error; err != nil {
			t.Fatal(err)
		}
		expect(t, s.refresh(exp), 401)

		// Garbage and missing input.
		expect(t, s.refresh("not-a-token"), 401)
		expect(t, s.refresh("rt_"+strings.Repeat("A", 43)), 401)
		expect(t, s.do("POST", "/v1/auth/refresh", "", map[string]string{}), 422)
		expect(t, s.do("POST", "/v1/auth/logout", "", map[string]string{}), 422)

		// RevokeAllSessions (what account deletion calls) ends every family.
		a := s.loginTokens("rita@example.com", "customer-pass-1")["refresh_token"].(string)
		b := s.loginTokens("rita@example.com", "customer-pass-1")["refresh_token"].(string)
		if err := s.app.users.Accounts().RevokeAllSessions(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		expect(t, s.refresh(a), 401)
		expect(t, s.refresh(b), 401)
		// Only the tokens are stored, hashed: the database never holds one.
		var n int64
		if err := s.app.db.Gorm.Table("user_refresh_tokens").Where("token_hash IN ?", []string{a, b, r1}).Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("plain refresh tokens stored: %d, %v", n, err)
		}
	})
}

func equalStrings(v any, want ...string) bool {
	l, ok := v.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	for i := range l {
		if l[i] != want[i] {
			return false
		}
	}
	return true
}

// Two refreshes racing with the same token: exactly one wins.
func TestConcurrentRefreshOnlyOneWins(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		s.register("carl@example.com")
		for round := 0; round < 3; round++ {
			tok := s.loginTokens("carl@example.com", "customer-pass-1")["refresh_token"].(string)
			const n = 6
			var wg sync.WaitGroup
			codes := make([]int, n)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					req, _ := http.NewRequest("POST", s.srv.URL+"/v1/auth/refresh", strings.NewReader(`{"refresh_token":"`+tok+`"}`))
					req.Header.Set("Content-Type", "application/json")
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						return
					}
					res.Body.Close()
					codes[i] = res.StatusCode
				}()
			}
			close(start)
			wg.Wait()
			won := 0
			for _, c := range codes {
				switch c {
				case 200:
					won++
				case 401:
				default:
					t.Fatalf("round %d: statuses %v", round, codes)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d refreshes succeeded with one token (statuses %v)", round, won, codes)
			}
		}
	})
}

// Wrong email and wrong password: the same status, headers and body (but
// the request ID).
func TestLoginFailuresIdentical(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		s.register("ida@example.com")
		a := s.do("POST", "/v1/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "wrong-password"})
		b := s.do("POST", "/v1/auth/login", "", map[string]string{"email": "ida@example.com", "password": "wrong-password"})
		expect(t, a, 401)
		expect(t, b, 401)
		strip := func(r response) map[string]any {
			m := r.JSON(t)
			delete(m, "request_id")
			return m
		}
		ja, _ := json.Marshal(strip(a))
		jb, _ := json.Marshal(strip(b))
		if string(ja) != string(jb) {
			t.Fatalf("bodies differ:\n%s\n%s", ja, jb)
		}
		for k := range a.Header {
			// The remaining rate-limit quota counts down per request (same
			// caller, same policy); it is checked to be there, not equal.
			if k == "X-Request-Id" || k == "Date" || k == "Ratelimit" {
				continue
			}
			if a.Header.Get(k) != b.Header.Get(k) {
				t.Fatalf("header %s differs: %q vs %q", k, a.Header.Get(k), b.Header.Get(k))
			}
		}
		if len(a.Header) != len(b.Header) {
			t.Fatalf("header sets differ: %v vs %v", a.Header, b.Header)
		}
	})
}

// signWith builds a token the way an attacker (or an old instance) would.
func signWith(t *testing.T, method jwt.SigningMethod, key any, kid any, c jwt.MapClaims) string {
	t.Helper()
	tk := jwt.NewWithClaims(method, c)
	if kid != nil {
		tk.Header["kid"] = kid
	}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Key rotation keeps sessions, and forged tokens are 401 on a live server.
func TestKeyRotationAndForgedTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		cfg := testConfig(t, kind)
		before := startServer(t, cfg)
		id, _ := before.register("kim@example.com")
		login := before.loginTokens("kim@example.com", "customer-pass-1")
		oldAccess := login["access_token"].(string)
		enrolTok := oldAccess
		// A client half way through a listing when the key rotates.
		admin := before.adminToken()
		for i := 0; i < 3; i++ {
			before.createProduct(admin, map[string]any{"sku": fmt.Sprint("ROT-", i), "name": fmt.Sprint("Rotation ", i)})
		}
		page := before.do("GET", "/v1/products?sort=name&limit=2", "", nil)
		expect(t, page, 200)
		cursor, _ := page.JSON(t)["next_cursor"].(string)
		if cursor == "" {
			t.Fatalf("no next_cursor on the first page: %s", page.Body)
		}
		enrol := before.do("POST", "/v1/users/me/mfa", enrolTok, nil)
		expect(t, enrol, 201)
		secret := enrol.JSON(t)["secret"].(string)

		// Rotate: a new key signs, the old one is listed as previous.
		const newKey = "rotated-signing-key-0123456789abcdef0123"
		rotated := cfg
		rotated.Auth.SigningKey = newKey
		rotated.Auth.PreviousSigningKeys = []string{testSigningKey}
		after := startServer(t, rotated)
		expect(t, after.do("GET", "/v1/users/me", oldAccess, nil), 200)
		next := after.do("GET", "/v1/products?sort=name&limit=2&cursor="+cursor, "", nil)
		expect(t, next, 200)
		if data := next.JSON(t)["data"].([]any); len(data) != 1 || data[0].(map[string]any)["name"] != "Rotation 2" {
			t.Fatalf("page after the rotation: %s", next.Body)
		}
		rot := after.refresh(login["refresh_token"].(string))
		expect(t, rot, 200)
		newAccess := rot.JSON(t)["access_token"].(string)
		tk, _, _ := jwt.NewParser().ParseUnverified(newAccess, jwt.MapClaims{})
		if tk.Header["kid"] != auth.KeyID([]byte(newKey)) {
			t.Fatalf("new tokens signed with kid %v", tk.Header["kid"])
		}
		// The MFA secret sealed under the old key still opens.
		waitForFreshStep(t)
		code, _ := totp.GenerateCode(secret, time.Now())
		expect(t, after.do("POST", "/v1/users/me/mfa/confirm", newAccess, map[string]string{"code": code}), 200)

		// Once the old key is dropped its tokens are refused.
		retired := cfg
		retired.Auth.SigningKey = newKey
		retired.Auth.PreviousSigningKeys = nil
		dropped := startServer(t, retired)
		expect(t, dropped.do("GET", "/v1/users/me", oldAccess, nil), 401)
		// Another fieldset, so no page cached by the earlier request answers.
		stale := dropped.do("GET", "/v1/products?sort=name&limit=2&fields=id,name&cursor="+cursor, "", nil)
		expect(t, stale, 400)
		if pt := problemType(t, stale); pt != "query.cursor" {
			t.Fatalf("cursor of a retired key: problem %q", pt)
		}
		expect(t, dropped.do("GET", "/v1/users/me", newAccess, nil), 200)

		// Forged and stale tokens against the rotated server.
		now := time.Now()
		key := []byte(newKey)
		kid := auth.KeyID(key)
		base := func() jwt.MapClaims {
			return jwt.MapClaims{"sub": id, "role": "admin", "iss": "productapi", "aud": "productapi",
				"exp": now.Add(time.Minute).Unix(), "amr": []string{"pwd", "otp"}}
		}
		with := func(k string, v any) jwt.MapClaims {
			c := base()
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
			return c
		}
		parts := strings.Split(newAccess, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		edited := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"customer"`, `"admin"`, 1))) + "." + parts[2]
		control := signWith(t, jwt.SigningMethodHS256, key, kid, base())
		expect(t, after.do("GET", "/v1/users/me", control, nil), 200) // the helper makes valid tokens
		for name, tok := range map[string]string{
			"alg none":        signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, base()),
			"wrong key":       signWith(t, jwt.SigningMethodHS256, []byte("another-key-another-key-another-key!"), kid, base()),
			"edited payload":  edited,
			"expired":         signWith(t, jwt.SigningMethodHS256, key, kid, with("exp", now.Add(-time.Minute).Unix())),
			"wrong issuer":    signWith(t, jwt.SigningMethodHS256, key, kid, with("iss", "evil")),
			"wrong audience":  signWith(t, jwt.SigningMethodHS256, key, kid, with("aud", "another-api")),
			"no audience":     signWith(t, jwt.SigningMethodHS256, key, kid, with("aud", nil)),
			"missing kid":     signWith(t, jwt.SigningMethodHS256, key, nil, base()),
			"unknown kid":     signWith(t, jwt.SigningMethodHS256, key, "deadbeefdeadbeef", base()),
			"HS512":           signWith(t, jwt.SigningMethodHS512, key, kid, base()),
			"mfa challenge":   signWith(t, jwt.SigningMethodHS256, key, kid, with("purpose", "mfa")),
			"not a JWT":       "abc.def.ghi",
			"old key dropped": signWith(t, jwt.SigningMethodHS256, []byte(testSigningKey+"x"), auth.KeyID([]byte(testSigningKey+"x")), base()),
		} {
			r := after.do("GET", "/v1/users/me", tok, nil)
			if r.Status != 401 {
				t.Errorf("%s: status %d: %s", name, r.Status, r.Body)
			}
		}
	})
}

// waitForFreshStep sleeps into the next TOTP step when fewer than 5 s are
// left in this one, so a code computed now is judged in the same window.
func waitForFreshStep(t *testing.T) {
	t.Helper()
	if left := 30 - time.Now().Unix()%30; left < 5 {
		time.Sleep(time.Duration(left)*time.Second + 100*time.Millisecond)
	}
}

// codeAt computes the TOTP code of the step offset steps from now.
func codeAt(t *testing.T, secret string, offset int) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now().Add(time.Duration(offset)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a 6-digit code valid in none of the accepted steps.
func wrongCode(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{codeAt(t, secret, -1): true, codeAt(t, secret, 0): true, codeAt(t, secret, 1): true}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// enableMFA enrols and confirms a second factor (with the previous step's
// code) and returns the secret and the recovery codes.
func (s *testServer) enableMFA(token string) (string, []string) {
	s.t.Helper()
	enrol := s.do("POST", "/v1/users/me/mfa", token, nil)
	expect(s.t, enrol, 201)
	secret := enrol.JSON(s.t)["secret"].(string)
	waitForFreshStep(s.t)
	conf := s.do("POST", "/v1/users/me/mfa/confirm", token, map[string]string{"code": codeAt(s.t, secret, -1)})
	expect(s.t, conf, 200)
	var codes []string
	for _, c := range conf.JSON(s.t)["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	return secret, codes
}

// mfaChallenge logs in with the password of an MFA user: 200 with a challenge.
func (s *testServer) mfaChallenge(email, password string) string {
	s.t.Helper()
	m := s.loginTokens(email, password)
	if m["mfa_required"] != true || m["access_token"] != nil || m["refresh_token"] != nil {
		s.t.Fatalf("MFA login did not answer a challenge: %v", m)
	}
	return m["mfa_token"].(string)
}

func TestTOTPMultiFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		const email, pw = "mia@example.com", "customer-pass-1"
		_, tok := s.register(email)

		// Enrolment is not active until confirmed.
		enrol := s.do("POST", "/v1/users/me/mfa", tok, nil)
		expect(t, enrol, 201)
		e := enrol.JSON(t)
		secret := e["secret"].(string)
		if !strings.HasPrefix(e["otpauth_url"].(string), "otpauth://totp/") || !strings.Contains(e["otpauth_url"].(string), secret) {
			t.Fatalf("enrolment: %v", e)
		}
		if m := s.loginTokens(email, pw); m["access_token"] == nil {
			t.Fatalf("pending enrolment already demands a code: %v", m)
		}
		// The secret is not stored in the clear.
		var stored string
		if err := s.app.db.Gorm.Table("user_mfa").Select("secret").Scan(&stored).Error; err != nil || strings.Contains(stored, secret) || stored == "" {
			t.Fatalf("stored secret %q (%v)", stored, err)
		}
		expect(t, s.do("POST", "/v1/users/me/mfa/confirm", tok, map[string]string{"code": wrongCode(t, secret)}), 422)
		expect(t, s.do("DELETE", "/v1/users/me/mfa", tok, map[string]string{"code": codeAt(t, secret, 0)}), 409)

		waitForFreshStep(t)
		conf := s.do("POST", "/v1/users/me/mfa/confirm", tok, map[string]string{"code": codeAt(t, secret, -1)})
		expect(t, conf, 200)
		recovery := conf.JSON(t)["recovery_codes"].([]any)
		if len(recovery) != 10 {
			t.Fatalf("recovery codes: %v", recovery)
		}
		expect(t, s.do("POST", "/v1/users/me/mfa", tok, nil), 409)
		expect(t, s.do("POST", "/v1/users/me/mfa/confirm", tok, map[string]string{"code": codeAt(t, secret, 0)}), 409)

		// Login now needs the code.
		ch := s.mfaChallenge(email, pw)
		expect(t, s.do("GET", "/v1/users/me", ch, nil), 401) // the challenge is no access token
		wrong := s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": ch, "code": wrongCode(t, secret)})
		expect(t, wrong, 401)
		if problemType(t, wrong) != "users.invalid_mfa_code" {
			t.Fatalf("wrong code problem: %s", wrong.Body)
		}
		expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": "x.y.z", "code": codeAt(t, secret, 0)}), 401)
		code := codeAt(t, secret, 0)
		ok := s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": ch, "code": code})
		expect(t, ok, 200)
		otpTokens := ok.JSON(t)
		if !equalStrings(jwtClaims(t, otpTokens["access_token"].(string))["amr"], "pwd", "otp") {
			t.Fatalf("amr after MFA: %v", jwtClaims(t, otpTokens["access_token"].(string)))
		}
		// Replay of the same code (same 30 s step), even with a new challenge.
		expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": s.mfaChallenge(email, pw), "code": code}), 401)
		// An older step's code after a newer one was used is a replay too.
		expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": s.mfaChallenge(email, pw), "code": codeAt(t, secret, -1)}), 401)

		// Refresh keeps the amr of the original login.
		rot := s.refresh(otpTokens["refresh_token"].(string))
		expect(t, rot, 200)
		if !equalStrings(jwtClaims(t, rot.JSON(t)["access_token"].(string))["amr"], "pwd", "otp") {
			t.Fatal("refresh lost the otp amr")
		}

		// Recovery codes work once, in any spelling.
		rc := recovery[0].(string)
		expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": s.mfaChallenge(email, pw), "code": strings.ToUpper(rc)}), 200)
		expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": s.mfaChallenge(email, pw), "code": rc}), 401)

		// Disable needs a valid code; a recovery code does.
		expect(t, s.do("DELETE", "/v1/users/me/mfa", tok, map[string]string{"code": wrongCode(t, secret)}), 422)
		expect(t, s.do("DELETE", "/v1/users/me/mfa", tok, map[string]string{"code": rc}), 422)
		expect(t, s.do("DELETE", "/v1/users/me/mfa", tok, map[string]string{"code": recovery[1].(string)}), 204)
		expect(t, s.do("DELETE", "/v1/users/me/mfa", tok, map[string]string{"code": recovery[2].(string)}), 409)
		if m := s.loginTokens(email, pw); m["access_token"] == nil || m["mfa_required"] != nil {
			t.Fatalf("login after disable: %v", m)
		}
		// A challenge issued before the disable no longer completes.
		expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": ch, "code": codeAt(t, secret, 1)}), 401)
	})
}

// auth.require_mfa_for: admin routes need a TOTP login.
func TestRequireMFAForAdminRoutes(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		cfg := testConfig(t, kind)
		cfg.Auth.RequireMFAFor = []string{"admin"}
		s := startServer(t, cfg)
		_, customer := s.register("cus@example.com")
		pwdAdmin := s.adminToken()

		for _, path := range []string{"/v1/admin/flags", "/v1/admin/audit", "/v1/users", "/v1/admin/dead-letters"} {
			r := s.do("GET", path, pwdAdmin, nil)
			expect(t, r, 403)
			if problemType(t, r) != "auth.mfa_required" {
				t.Fatalf("%s: %s", path, r.Body)
			}
			// A customer is refused for the role, not for MFA.
			if r := s.do("GET", path, customer, nil); r.Status != 403 || problemType(t, r) == "auth.mfa_required" {
				t.Fatalf("%s as customer: %d %s", path, r.Status, r.Body)
			}
		}
		// Non-admin routes stay open to a password login.
		expect(t, s.do("GET", "/v1/users/me", pwdAdmin, nil), 200)
		// Catalogue writes and admins' order actions are admin groups too
		// (admin.products, admin.orders); the order below comes from an
		// instance without the policy, sharing the database.
		open := startServer(t, withoutMFAPolicy(cfg))
		product := open.createProduct(open.adminToken(), map[string]any{"stock": 5})["id"].(string)
		placed := open.placeOrder(customer, "mfa-1", orderLine{product, 1})
		expect(t, placed, 201)
		orderID := placed.JSON(t)["id"].(string)
		for _, call := range []struct{ method, path string }{
			{"POST", "/v1/products"}, {"PATCH", "/v1/products/" + product}, {"DELETE", "/v1/products/" + product},
			{"POST", "/v1/orders/" + orderID + "/ship"}, {"POST", "/v1/orders/" + orderID + "/cancel"},
			{"GET", "/v1/admin/reports/product-sales"}, {"POST", "/v1/admin/reports/product-sales/rebuild"},
		} {
			r := s.do(call.method, call.path, pwdAdmin, map[string]any{"name": "x"})
			if r.Status != 403 || problemType(t, r) != "auth.mfa_required" {
				t.Fatalf("%s %s with a password-only admin: %d %s", call.method, call.path, r.Status, r.Body)
			}
		}
		// A customer cancels its own order without a second factor.
		expect(t, s.do("POST", "/v1/orders/"+orderID+"/cancel", customer, nil), 200)

		secret, _ := s.enableMFA(pwdAdmin)
		ch := s.mfaChallenge(adminEmail, adminPassword)
		r := s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": ch, "code": codeAt(t, secret, 0)})
		expect(t, r, 200)
		otpAdmin := r.JSON(t)["access_token"].(string)
		for _, path := range []string{"/v1/admin/flags", "/v1/admin/audit", "/v1/users", "/v1/admin/dead-letters", "/v1/admin/reports/product-sales"} {
			expect(t, s.do("GET", path, otpAdmin, nil), 200)
		}
		expect(t, s.do("PATCH", "/v1/products/"+product, otpAdmin, map[string]any{"name": "Renamed"}), 200)

		// A single group: only that one is guarded.
		one := testConfig(t, kind)
		one.Auth.RequireMFAFor = []string{"admin.flags"}
		s2 := startServer(t, one)
		adm := s2.adminToken()
		expect(t, s2.do("GET", "/v1/admin/flags", adm, nil), 403)
		expect(t, s2.do("GET", "/v1/admin/audit", adm, nil), 200)
		expect(t, s2.do("GET", "/v1/admin/reports/product-sales", adm, nil), 200)
	})
}

// withoutMFAPolicy is cfg with auth.require_mfa_for off.
func withoutMFAPolicy(cfg config.Config) config.Config {
	cfg.Auth.RequireMFAFor = nil
	return cfg
}

// Guessing codes is throttled: after 5 wrong codes the next check is a 429
// (even with the right code) until 15 minutes have passed.
func TestMFAGuessesThrottled(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		const email, pw = "gus@example.com", "customer-pass-1"
		id, tok := s.register(email)
		secret, _ := s.enableMFA(tok)
		for i := 0; i < 5; i++ {
			expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": s.mfaChallenge(email, pw), "code": wrongCode(t, secret)}), 401)
		}
		locked := s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": s.mfaChallenge(email, pw), "code": codeAt(t, secret, 0)})
		expect(t, locked, 429)
		if problemType(t, locked) != "users.mfa_locked" || locked.Header.Get("Retry-After") == "" {
			t.Fatalf("locked: %v %s", locked.Header, locked.Body)
		}
		expect(t, s.do("DELETE", "/v1/users/me/mfa", tok, map[string]string{"code": codeAt(t, secret, 0)}), 429)
		// The window passes.
		if err := s.app.db.Gorm.Table("user_mfa").Where("user_id = ?", id).
			Update("failed_at", time.Now().Add(-16*time.Minute).UTC()).Error; err != nil {
			t.Fatal(err)
		}
		expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": s.mfaChallenge(email, pw), "code": codeAt(t, secret, 0)}), 200)
		// A wrong code after the window starts a new count: not locked.
		expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": s.mfaChallenge(email, pw), "code": wrongCode(t, secret)}), 401)
		expect(t, s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": s.mfaChallenge(email, pw), "code": codeAt(t, secret, 1)}), 200)
	})
}
