package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"example.com/productapi/modules/users"
	"example.com/productapi/modules/users/internal/store"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/ids"
)

// AuthOptions configure the token lifecycle and MFA.
type AuthOptions struct {
	RefreshTTL time.Duration   // lifetime of each refresh token (default 720h)
	MFABox     *auth.SecretBox // seals TOTP secrets at rest
	MFAIssuer  string          // issuer shown in authenticator apps
}

// lifecycle is the state the session and MFA use cases need.
type lifecycle struct {
	refreshTTL time.Duration
	box        *auth.SecretBox
	mfaIssuer  string
	now        func() time.Time
}

func newLifecycle(o AuthOptions) lifecycle {
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = 720 * time.Hour
	}
	if o.MFAIssuer == "" {
		o.MFAIssuer = "productapi"
	}
	return lifecycle{refreshTTL: o.RefreshTTL, box: o.MFABox, mfaIssuer: o.MFAIssuer, now: time.Now}
}

func (s *Service) clock() time.Time {
	if s.lc.now == nil {
		return time.Now().UTC().Truncate(time.Microsecond)
	}
	return s.lc.now().UTC().Truncate(time.Microsecond)
}

// ErrInvalidRefreshToken covers unknown, spent, expired and revoked tokens.
var ErrInvalidRefreshToken = apperr.New(apperr.KindUnauthorized, "users.invalid_refresh_token",
	"the refresh token is invalid, expired or revoked; log in again")

const refreshPrefix = "rt_"

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func newRefreshToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return refreshPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// issueSession starts a refresh-token family for a completed login.
func (s *Service) issueSession(ctx context.Context, row store.Row, amr []string) (users.Token, error) {
	now := s.clock()
	refresh, err := newRefreshToken()
	if err != nil {
		return users.Token{}, apperr.Internal(err)
	}
	sess := store.Session{ID: ids.New(), UserID: row.ID, AMR: strings.Join(amr, " "), CreatedAt: now}
	err = s.store.Transact(ctx, func(ctx context.Context) error {
		if err := s.store.CreateSession(ctx, &sess); err != nil {
			return err
		}
		return s.store.CreateRefreshToken(ctx, &store.RefreshToken{TokenHash: hashToken(refresh), SessionID: sess.ID,
			ExpiresAt: now.Add(s.refreshTTL()), CreatedAt: now})
	})
	if err != nil {
		return users.Token{}, err
	}
	return s.accessToken(row, amr, refresh)
}

func (s *Service) refreshTTL() time.Duration {
	if s.lc.refreshTTL <= 0 {
		return 720 * time.Hour
	}
	return s.lc.refreshTTL
}

func (s *Service) accessToken(row store.Row, amr []string, refresh string) (users.Token, error) {
	tok, err := s.tokens.IssueAMR(row.ID, row.Role, amr)
	if err != nil {
		return users.Token{}, apperr.Internal(err)
	}
	return users.Token{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(s.tokens.TTL().Seconds()), RefreshToken: refresh}, nil
}

var errReused = errors.New("refresh token reused")

// Refresh rotates a refresh token: the presented one is spent (a
// conditional UPDATE, so of concurrent uses exactly one wins) and a new one
// of the same family is returned with a fresh access token carrying the
// family's original amr. Presenting a spent token revokes the whole family:
// either the client or a thief holds a copy, and the family can no longer
// be trusted.
func (s *Service) Refresh(ctx context.Context, presented string) (users.Token, error) {
	if !strings.HasPrefix(presented, refreshPrefix) || len(presented) > 100 {
		return users.Token{}, ErrInvalidRefreshToken
	}
	hash := hashToken(presented)
	now := s.clock()
	old, sess, err := s.store.RefreshTokenByHash(ctx, hash)
	if errors.Is(err, store.ErrNoToken) {
		return users.Token{}, ErrInvalidRefreshToken
	}
	if err != nil {
		return users.Token{}, err
	}
	if sess.RevokedAt != nil || !now.Before(old.ExpiresAt) {
		return users.Token{}, ErrInvalidRefreshToken
	}
	if old.UsedAt != nil {
		return users.Token{}, s.reuseDetected(ctx, sess, now)
	}
	row, err := s.store.ByID(ctx, sess.UserID)
	if apperr.KindOf(err) == apperr.KindNotFound {
		return users.Token{}, ErrInvalidRefreshToken
	}
	if err != nil {
		return users.Token{}, err
	}
	next, err := newRefreshToken()
	if err != nil {
		return users.Token{}, apperr.Internal(err)
	}
	err = s.store.Transact(ctx, func(ctx context.Context) error {
		won, err := s.store.MarkRefreshTokenUsed(ctx, hash, now)
		if err != nil {
			return err
		}
		if !won {
			return errReused
		}
		// A logout or reuse that revoked the family after our first read.
		if _, cur, err := s.store.RefreshTokenByHash(ctx, hash); err != nil || cur.RevokedAt != nil {
			if err == nil {
				err = ErrInvalidRefreshToken
			}
			return err
		}
		return s.store.CreateRefreshToken(ctx, &store.RefreshToken{TokenHash: hashToken(next), SessionID: sess.ID,
			ExpiresAt: now.Add(s.refreshTTL()), CreatedAt: now})
	})
	if errors.Is(err, errReused) {
		// Outside the rolled-back transaction, so the revocation sticks.
		return users.Token{}, s.reuseDetected(ctx, sess, now)
	}
	if err != nil {
		return users.Token{}, err
	}
	return s.accessToken(row, strings.Fields(sess.AMR), next)
}

func (s *Service) reuseDetected(ctx context.Context, sess store.Session, now time.Time) error {
	if err := s.store.RevokeSession(ctx, sess.ID, now); err != nil {
		return err
	}
	s.log.WarnContext(ctx, "refresh token reused: session family revoked", "user_id", sess.UserID, "session_id", sess.ID)
	return ErrInvalidRefreshToken
}

// Logout revokes the family of a refresh token. Unknown, spent or already
// revoked tokens succeed too (idempotent, and it tells nothing about a token).
func (s *Service) Logout(ctx context.Context, presented string) error {
	_, sess, err := s.store.RefreshTokenByHash(ctx, hashToken(presented))
	if errors.Is(err, store.ErrNoToken) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.store.RevokeSession(ctx, sess.ID, s.clock())
}

// RevokeAllSessions ends every refresh-token family of a user (account
// deletion, password reset). Access tokens already issued live until they
// expire (minutes).
func (s *Service) RevokeAllSessions(ctx context.Context, userID string) error {
	n, err := s.store.RevokeUserSessions(ctx, userID, s.clock())
	if err == nil && n > 0 {
		s.log.InfoContext(ctx, "sessions revoked", "user_id", userID, "count", n)
	}
	return err
}
