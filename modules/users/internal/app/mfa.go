package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"example.com/productapi/modules/users"
	"example.com/productapi/modules/users/internal/store"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/auth"
)

// MFA errors with stable codes.
var (
	ErrMFAAlreadyEnabled = apperr.New(apperr.KindConflict, "users.mfa_already_enabled", "two-factor authentication is already enabled; disable it first")
	ErrMFANotPending     = apperr.New(apperr.KindConflict, "users.mfa_not_pending", "start an enrolment with POST /v1/users/me/mfa first")
	ErrMFANotEnabled     = apperr.New(apperr.KindConflict, "users.mfa_not_enabled", "two-factor authentication is not enabled")
	ErrInvalidMFAToken   = apperr.New(apperr.KindUnauthorized, "users.invalid_mfa_token", "the MFA token is invalid or expired; log in again")
	ErrInvalidMFACode    = apperr.New(apperr.KindUnauthorized, "users.invalid_mfa_code", "the code is wrong or was already used")
	errWrongCode         = apperr.Validation(apperr.FieldError{Field: "code", Message: "the code is wrong or was already used"})
)

// Throttling of second-factor guesses: after maxMFAFailures wrong codes
// within mfaFailureWindow, checks answer 429 until the window has passed
// since the last failure. Reaching the check needs the password (login) or
// an access token (disable), so this only slows an attacker who has one.
const (
	maxMFAFailures   = 5
	mfaFailureWindow = 15 * time.Minute
)

var errMFALocked = apperr.New(apperr.KindTooManyRequests, "users.mfa_locked",
	"too many wrong codes; try again later").WithRetryAfter(mfaFailureWindow)

// RecoveryCodeCount is how many recovery codes a confirmation returns.
const RecoveryCodeCount = 10

var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// passwordVerified ends a password login: tokens, or an MFA challenge when
// the user has enabled a second factor.
func (s *Service) passwordVerified(ctx context.Context, row store.Row) (users.Token, error) {
	m, err := s.store.MFAByUser(ctx, row.ID)
	if err != nil && !errors.Is(err, store.ErrNoMFA) {
		return users.Token{}, err
	}
	if err == nil && m.EnabledAt != nil {
		ch, err := s.tokens.IssueMFAChallenge(row.ID)
		if err != nil {
			return users.Token{}, apperr.Internal(err)
		}
		return users.Token{MFARequired: true, MFAToken: ch, ExpiresIn: int(auth.MFAChallengeTTL.Seconds())}, nil
	}
	return s.issueSession(ctx, row, []string{auth.AMRPassword})
}

// LoginMFA completes a login with the challenge token and a TOTP or
// recovery code.
func (s *Service) LoginMFA(ctx context.Context, mfaToken, code string) (users.Token, error) {
	userID, err := s.tokens.VerifyMFAChallenge(mfaToken)
	if err != nil {
		return users.Token{}, ErrInvalidMFAToken
	}
	row, err := s.store.ByID(ctx, userID)
	if apperr.KindOf(err) == apperr.KindNotFound {
		return users.Token{}, ErrInvalidMFAToken
	}
	if err != nil {
		return users.Token{}, err
	}
	m, err := s.store.MFAByUser(ctx, userID)
	if errors.Is(err, store.ErrNoMFA) || (err == nil && m.EnabledAt == nil) {
		return users.Token{}, ErrInvalidMFAToken // disabled since the password step
	}
	if err != nil {
		return users.Token{}, err
	}
	ok, err := s.checkSecondFactor(ctx, m, code, true)
	if err != nil {
		return users.Token{}, err
	}
	if !ok {
		s.log.WarnContext(ctx, "mfa login: wrong code", "user_id", userID)
		return users.Token{}, ErrInvalidMFACode
	}
	return s.issueSession(ctx, row, []string{auth.AMRPassword, auth.AMROTP})
}

// Enrolment is a new, not yet active TOTP secret.
type Enrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	Period     int    `json:"period"`
	Digits     int    `json:"digits"`
}

// EnrolMFA creates (or replaces an unconfirmed) TOTP secret.
func (s *Service) EnrolMFA(ctx context.Context, userID string) (Enrolment, error) {
	row, err := s.store.ByID(ctx, userID)
	if err != nil {
		return Enrolment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.lc.mfaIssuer, AccountName: row.Email, Period: 30,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, apperr.Internal(err)
	}
	sealed, err := s.seal(key.Secret())
	if err != nil {
		return Enrolment{}, err
	}
	ok, err := s.store.ReplacePendingMFA(ctx, store.MFA{UserID: userID, Secret: sealed, CreatedAt: s.clock()})
	if err != nil {
		return Enrolment{}, err
	}
	if !ok {
		return Enrolment{}, ErrMFAAlreadyEnabled
	}
	return Enrolment{Secret: key.Secret(), OTPAuthURL: key.URL(), Period: 30, Digits: 6}, nil
}

// ConfirmMFA activates a pending enrolment with a first code and returns
// the recovery codes (shown once; only their hashes are kept).
func (s *Service) ConfirmMFA(ctx context.Context, userID, code string) ([]string, error) {
	m, err := s.store.MFAByUser(ctx, userID)
	if errors.Is(err, store.ErrNoMFA) || (err == nil && m.EnabledAt != nil) {
		return nil, ErrMFANotPending
	}
	if err != nil {
		return nil, err
	}
	ok, err := s.checkSecondFactor(ctx, m, code, false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errWrongCode
	}
	codes := make([]string, RecoveryCodeCount)
	hashes := make([]string, RecoveryCodeCount)
	for i := range codes {
		if codes[i], err = newRecoveryCode(); err != nil {
			return nil, apperr.Internal(err)
		}
		hashes[i] = hashToken(normalizeRecovery(codes[i]))
	}
	enabled, err := s.store.EnableMFA(ctx, userID, s.clock(), hashes)
	if err != nil {
		return nil, err
	}
	if !enabled {
		return nil, ErrMFANotPending
	}
	s.log.InfoContext(ctx, "mfa enabled", "user_id", userID)
	return codes, nil
}

// DisableMFA removes the second factor; it needs a current TOTP code or an
// unused recovery code.
func (s *Service) DisableMFA(ctx context.Context, userID, code string) error {
	m, err := s.store.MFAByUser(ctx, userID)
	if errors.Is(err, store.ErrNoMFA) || (err == nil && m.EnabledAt == nil) {
		return ErrMFANotEnabled
	}
	if err != nil {
		return err
	}
	ok, err := s.checkSecondFactor(ctx, m, code, true)
	if err != nil {
		return err
	}
	if !ok {
		return errWrongCode
	}
	if err := s.store.DeleteMFA(ctx, userID); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "mfa disabled", "user_id", userID)
	return nil
}

// checkSecondFactor accepts a TOTP code of the previous, current or next
// 30 s step, once: the accepted step is recorded with a conditional UPDATE
// and any code of that step or an earlier one is refused afterwards. With
// recovery, a recovery code (used once) is accepted too.
func (s *Service) checkSecondFactor(ctx context.Context, m store.MFA, code string, recovery bool) (bool, error) {
	if !recovery {
		return s.matchSecondFactor(ctx, m, code, false)
	}
	now := s.clock()
	windowStart := now.Add(-mfaFailureWindow)
	if m.FailedAttempts >= maxMFAFailures && m.FailedAt != nil && m.FailedAt.After(windowStart) {
		return false, errMFALocked
	}
	ok, err := s.matchSecondFactor(ctx, m, code, true)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, s.store.RecordMFAFailure(ctx, m.UserID, now, windowStart)
	}
	return true, s.store.ResetMFAFailures(ctx, m.UserID)
}

func (s *Service) matchSecondFactor(ctx context.Context, m store.MFA, code string, recovery bool) (bool, error) {
	code = strings.TrimSpace(code)
	if len(code) == 6 && strings.Trim(code, "0123456789") == "" {
		secret, err := s.open(m.Secret)
		if err != nil {
			return false, err
		}
		now := s.clock()
		cur := now.Unix() / 30
		for _, step := range []int64{cur - 1, cur, cur + 1} {
			want, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totpOpts)
			if err != nil {
				return false, apperr.Internal(err)
			}
			if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
				return s.store.UseStep(ctx, m.UserID, step)
			}
		}
		return false, nil
	}
	if !recovery || len(code) > 64 {
		return false, nil
	}
	return s.store.UseRecoveryCode(ctx, m.UserID, hashToken(normalizeRecovery(code)), s.clock())
}

func (s *Service) seal(secret string) (string, error) {
	if s.lc.box == nil {
		return "", apperr.Internal(errors.New("mfa: no secret box configured"))
	}
	sealed, err := s.lc.box.Seal([]byte(secret))
	if err != nil {
		return "", apperr.Internal(err)
	}
	return sealed, nil
}

func (s *Service) open(sealed string) (string, error) {
	if s.lc.box == nil {
		return "", apperr.Internal(errors.New("mfa: no secret box configured"))
	}
	pt, err := s.lc.box.Open(sealed)
	if err != nil {
		// The signing key that sealed it is no longer configured.
		return "", apperr.Internal(err)
	}
	return string(pt), nil
}

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCode is 50 random bits as "xxxxx-xxxxx" (base32, lower case).
func newRecoveryCode() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	s := strings.ToLower(recoveryEncoding.EncodeToString(b[:]))[:10]
	return s[:5] + "-" + s[5:], nil
}

func normalizeRecovery(code string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
}
