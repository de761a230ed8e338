package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"example.com/productapi/platform/auth"
)

// problemFields lists the fields a 422 problem names.
func problemFields(t *testing.T, r response) []string {
	t.Helper()
	var p struct {
		Errors []struct{ Field string } `json:"errors"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("problem %s: %v", r.Body, err)
	}
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// A stolen access token alone cannot take an account over: changing the
// email or the password needs the current password (missing: 422 naming
// it, wrong: 403, nothing changes), and a new password ends every session.
func TestProfileCredentialChangeNeedsCurrentPassword(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		const pw, newPW = "customer-pass-1", "brand-new-pass-2"
		_, tok := s.register("carol@example.com")

		for _, body := range []map[string]string{{"email": "carol2@example.com"}, {"password": newPW},
			{"email": "carol2@example.com", "current_password": ""}} {
			r := s.do("PATCH", "/v1/users/me", tok, body)
			expect(t, r, 422)
			if f := problemFields(t, r); !slices.Equal(f, []string{"current_password"}) {
				t.Fatalf("%v: 422 names %v, want current_password", body, f)
			}
		}
		// Listed with the other failing fields.
		r := s.do("PATCH", "/v1/users/me", tok, map[string]string{"email": "not-an-email"})
		expect(t, r, 422)
		if f := problemFields(t, r); !slices.Contains(f, "email") || !slices.Contains(f, "current_password") {
			t.Fatalf("422 names %v, want email and current_password", f)
		}
		for _, body := range []map[string]string{{"email": "carol2@example.com", "current_password": "wrong-pass-1"},
			{"password": newPW, "current_password": "wrong-pass-1"}} {
			r := s.do("PATCH", "/v1/users/me", tok, body)
			expect(t, r, 403)
			if typ := problemType(t, r); typ != "users.wrong_password" {
				t.Fatalf("wrong current_password: problem type %q", typ)
			}
		}
		if me := s.do("GET", "/v1/users/me", tok, nil).JSON(t); me["email"] != "carol@example.com" {
			t.Fatalf("refused changes changed the account: %v", me)
		}
		s.login("carol@example.com", pw)

		// A name needs no password.
		expect(t, s.do("PATCH", "/v1/users/me", tok, map[string]string{"name": "Carol K"}), 200)
		r = s.do("PATCH", "/v1/users/me", tok, map[string]string{"email": "carol2@example.com", "current_password": pw})
		expect(t, r, 200)
		if r.JSON(t)["email"] != "carol2@example.com" {
			t.Fatalf("email change: %s", r.Body)
		}

		// Two sessions (this device and another), then a new password.
		mine, other := s.loginTokens("carol2@example.com", pw), s.loginTokens("carol2@example.com", pw)
		expect(t, s.do("PATCH", "/v1/users/me", tok, map[string]string{"password": newPW, "current_password": pw}), 200)
		for name, sess := range map[string]map[string]any{"this session": mine, "another session": other} {
			r := s.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": sess["refresh_token"]})
			expect(t, r, 401)
			if typ := problemType(t, r); typ != "users.invalid_refresh_token" {
				t.Fatalf("%s after the password change: %s", name, r.Body)
			}
		}
		expect(t, s.do("POST", "/v1/auth/login", "", map[string]string{"email": "carol2@example.com", "password": pw}), 401)
		fresh := s.loginTokens("carol2@example.com", newPW)
		expect(t, s.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": fresh["refresh_token"]}), 200)
	})
}

// The last admin can neither erase itself nor lose its role; with two
// admins one may be demoted, and then the other is the last.
func TestLastAdminCannotEraseOrDemoteItself(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		adminID := s.do("GET", "/v1/users/me", admin, nil).JSON(t)["id"].(string)

		r := s.do("DELETE", "/v1/users/me", admin, nil)
		expect(t, r, 409)
		if typ := problemType(t, r); typ != "users.last_admin" {
			t.Fatalf("erasing the last admin: problem type %q", typ)
		}
		if me := s.do("GET", "/v1/users/me", admin, nil).JSON(t); me["role"] != "admin" || me["email"] != adminEmail {
			t.Fatalf("the last admin after the refused erasure: %v", me)
		}
		s.adminToken()
		expect(t, s.do("PATCH", "/v1/users/"+adminID, admin, map[string]string{"role": "customer"}), 409)

		bobID, _ := s.register("bob@example.com")
		expect(t, s.do("PATCH", "/v1/users/"+bobID, admin, map[string]string{"role": "admin"}), 200)
		bob := s.login("bob@example.com", "customer-pass-1")
		r = s.do("PATCH", "/v1/users/"+adminID, bob, map[string]string{"role": "customer"})
		expect(t, r, 200)
		if r.JSON(t)["role"] != "customer" {
			t.Fatalf("demotion with two admins: %s", r.Body)
		}
		// Bob is the last admin now. The demoted admin's access token still
		// claims the role until it expires, and cannot take it from Bob.
		expect(t, s.do("PATCH", "/v1/users/"+bobID, admin, map[string]string{"role": "customer"}), 409)
		expect(t, s.do("DELETE", "/v1/users/me", bob, nil), 409)
		if n := adminCount(t, s, bob); n != 1 {
			t.Fatalf("%d admins, want 1", n)
		}
	})
}

func adminCount(t *testing.T, s *testServer, token string) int {
	t.Helper()
	r := s.do("GET", "/v1/users?role=admin", token, nil)
	expect(t, r, 200)
	return len(r.JSON(t)["data"].([]any))
}

// patchStatus is a PATCH that is safe to send from any goroutine (no
// t.Fatal): the status, or 0 on a transport error.
func patchStatus(s *testServer, path, token string, body any) int {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest("PATCH", s.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// Two admins demoting each other at the same moment leave one admin, never
// none: the check and the write are one decision under lock.
func TestAdminsDemotingEachOtherAtOnceKeepOne(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		adminID := s.do("GET", "/v1/users/me", admin, nil).JSON(t)["id"].(string)
		bobID, _ := s.register("bob@example.com")
		expect(t, s.do("PATCH", "/v1/users/"+bobID, admin, map[string]string{"role": "admin"}), 200)
		bob := s.login("bob@example.com", "customer-pass-1")
		demote := map[string]string{"role": "customer"}
		for round := 0; round < 5; round++ {
			var statuses [2]int
			var wg sync.WaitGroup
			start := make(chan struct{})
			wg.Add(2)
			go func() { defer wg.Done(); <-start; statuses[0] = patchStatus(s, "/v1/users/"+bobID, admin, demote) }()
			go func() { defer wg.Done(); <-start; statuses[1] = patchStatus(s, "/v1/users/"+adminID, bob, demote) }()
			close(start)
			wg.Wait()
			got := statuses[:]
			slices.Sort(got)
			if !slices.Equal(got, []int{200, 409}) {
				t.Fatalf("round %d: mutual demotion answered %v, want one 200 and one 409", round, statuses)
			}
			if n := adminCount(t, s, admin); n != 1 {
				t.Fatalf("round %d: %d admins after the mutual demotion, want 1", round, n)
			}
			// Both tokens still claim admin: restore both for the next round.
			for _, id := range []string{adminID, bobID} {
				expect(t, s.do("PATCH", "/v1/users/"+id, admin, map[string]string{"role": "admin"}), 200)
			}
		}
	})
}

// accountsWithTokens creates n customers and their access tokens without
// the API, so the strict auth quota a test sets stays untouched.
func accountsWithTokens(t *testing.T, s *testServer, n int) []string {
	t.Helper()
	tokens := make([]string, n)
	for i := range tokens {
		u, err := s.app.users.Accounts().Register(context.Background(), fmt.Sprintf("other%d@example.com", i), "customer-pass-1", "Other")
		if err != nil {
			t.Fatal(err)
		}
		if tokens[i], err = s.app.tokens.Issue(u.ID, auth.RoleCustomer); err != nil {
			t.Fatal(err)
		}
	}
	return tokens
}

// Sending another account's valid token along with each guess buys no
// extra attempts: login counts per client address whatever Authorization
// says.
func TestLoginLimitIgnoresOtherAccountsTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := startServer(t, strictLimits(testConfig(t, kind), 3, 1000, 1000))
		tokens := accountsWithTokens(t, s, 6)
		for i, tok := range tokens {
			// A different target each time: only the address limit applies.
			r := s.do("POST", "/v1/auth/login", tok, map[string]string{"email": fmt.Sprintf("nobody%d@example.com", i), "password": "wrong-pass-1"})
			want := 401
			if i >= 3 {
				want = 429
			}
			expect(t, r, want)
			if g, rem, _ := rateState(t, r); g != "auth" || rem != max(2-i, 0) {
				t.Fatalf("guess %d: RateLimit %q, want auth with %d left", i+1, r.Header.Get("RateLimit"), max(2-i, 0))
			}
		}
		// The tokens themselves still work where they belong.
		expect(t, s.do("GET", "/v1/users/me", tokens[5], nil), 200)
	})
}

// A distributed guess at one account, one attempt per address, is stopped
// at the auth limit: login (and register) count per target account too,
// by the normalized email, while other accounts are unaffected. A stolen
// token checking current_password shares the same quota.
func TestLoginLimitedPerTargetAccountAcrossAddresses(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		cfg := strictLimits(testConfig(t, kind), 3, 1000, 1000)
		cfg.HTTP.TrustedProxies = []string{"127.0.0.1/32", "::1/128"} // X-Forwarded-For names the client
		s := startServer(t, cfg)
		const pw = "victim-pass-1"
		victim, err := s.app.users.Accounts().Register(context.Background(), "victim@example.com", pw, "Victim")
		if err != nil {
			t.Fatal(err)
		}
		stolen, err := s.app.tokens.Issue(victim.ID, auth.RoleCustomer)
		if err != nil {
			t.Fatal(err)
		}
		addr := 0
		from := func() []string { addr++; return []string{"X-Forwarded-For", "203.0.113." + strconv.Itoa(addr)} }

		spellings := []string{"victim@example.com", "  Victim@Example.com", "VICTIM@example.com "}
		for i := 0; i < 6; i++ {
			r := s.do("POST", "/v1/auth/login", "", map[string]string{"email": spellings[i%3], "password": "guess-" + strconv.Itoa(i)}, from()...)
			want := 401
			if i >= 3 {
				want = 429
			}
			expect(t, r, want)
			// Each fresh address has 2 left; the account fewer: the tighter shows.
			if g, rem, _ := rateState(t, r); g != "auth" || rem != max(2-i, 0) {
				t.Fatalf("guess %d: RateLimit %q, want auth with %d left", i+1, r.Header.Get("RateLimit"), max(2-i, 0))
			}
			if want == 429 && r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
		// The right password waits for the window too; other accounts do not.
		expect(t, s.do("POST", "/v1/auth/login", "", map[string]string{"email": "victim@example.com", "password": pw}, from()...), 429)
		expect(t, s.do("POST", "/v1/auth/login", "", map[string]string{"email": "someone@example.com", "password": "wrong-pass-1"}, from()...), 401)
		expect(t, s.do("PATCH", "/v1/users/me", stolen, map[string]string{"email": "thief@example.com", "current_password": "guess-7"}), 429)

		// Registrations count per email as well.
		reg := map[string]string{"email": "dup@example.com", "password": "customer-pass-1", "name": "Dup"}
		for i, want := range []int{201, 409, 409, 429} {
			if r := s.do("POST", "/v1/auth/register", "", reg, from()...); r.Status != want {
				t.Fatalf("registration %d of one email from a fresh address: %d, want %d: %s", i+1, r.Status, want, r.Body)
			}
		}
	})
}

// Login, register, refresh, the MFA step and logout ignore Authorization:
// a client whose token expired (or holds garbage) can still sign in.
func TestCredentialEndpointsIgnoreBadBearer(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		cfg := testConfig(t, kind)
		s := startServer(t, cfg)
		id, _ := s.register("dora@example.com")
		expired, err := auth.NewTokens([]byte(cfg.Auth.SigningKey), cfg.Auth.Issuer, -time.Minute,
			auth.WithAudience(cfg.Auth.Audience)).Issue(id, auth.RoleCustomer)
		if err != nil {
			t.Fatal(err)
		}
		for i, authz := range []string{"Bearer " + expired, "Bearer garbage", "Bearer a.b.c", "Basic ZG9yYTp4"} {
			h := []string{"Authorization", authz}
			r := s.do("POST", "/v1/auth/login", "", map[string]string{"email": "dora@example.com", "password": "customer-pass-1"}, h...)
			expect(t, r, 200)
			tokens := r.JSON(t)
			r = s.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": tokens["refresh_token"]}, h...)
			expect(t, r, 200)
			expect(t, s.do("POST", "/v1/auth/logout", "", map[string]any{"refresh_token": r.JSON(t)["refresh_token"]}, h...), 204)
			expect(t, s.do("POST", "/v1/auth/register", "", map[string]string{"email": fmt.Sprintf("dora%d@example.com", i),
				"password": "customer-pass-1", "name": "Dora"}, h...), 201)
			// The MFA step judges its own token, not the header.
			r = s.do("POST", "/v1/auth/mfa", "", map[string]string{"mfa_token": "not-a-challenge", "code": "123456"}, h...)
			expect(t, r, 401)
			if typ := problemType(t, r); typ != "users.invalid_mfa_token" {
				t.Fatalf("%q: MFA step answered %s", authz, r.Body)
			}
			// Everywhere else a bad token is still a 401.
			expect(t, s.do("GET", "/v1/products", "", nil, h...), 401)
		}
	})
}
