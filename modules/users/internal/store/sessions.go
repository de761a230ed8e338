package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"example.com/productapi/platform/db"
)

// Session is a refresh-token family: one login and every rotation after it.
type Session struct {
	ID        string
	UserID    string
	AMR       string // space-separated methods of the original login
	CreatedAt time.Time
	RevokedAt *time.Time
}

func (Session) TableName() string { return "user_sessions" }

// RefreshToken is one token of a family, stored as its SHA-256 only.
type RefreshToken struct {
	TokenHash string `gorm:"primaryKey"`
	SessionID string
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}

func (RefreshToken) TableName() string { return "user_refresh_tokens" }

// ErrNoToken means no refresh token has this hash.
var ErrNoToken = errors.New("refresh token not found")

// CreateSession inserts a family.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	return db.Conn(ctx, s.db).Create(sess).Error
}

// CreateRefreshToken inserts a token of a family.
func (s *Store) CreateRefreshToken(ctx context.Context, t *RefreshToken) error {
	return db.Conn(ctx, s.db).Create(t).Error
}

// RefreshTokenByHash returns a token with its family.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string) (RefreshToken, Session, error) {
	var t RefreshToken
	err := db.Conn(ctx, s.db).Where("token_hash = ?", hash).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return t, Session{}, ErrNoToken
	}
	if err != nil {
		return t, Session{}, err
	}
	var sess Session
	err = db.Conn(ctx, s.db).Where("id = ?", t.SessionID).Take(&sess).Error
	return t, sess, err
}

// MarkRefreshTokenUsed spends a token: one conditional UPDATE, so of two
// concurrent refreshes with the same token exactly one sees true.
func (s *Store) MarkRefreshTokenUsed(ctx context.Context, hash string, now time.Time) (bool, error) {
	res := db.Conn(ctx, s.db).Model(&RefreshToken{}).
		Where("token_hash = ? AND used_at IS NULL", hash).Update("used_at", now)
	return res.RowsAffected == 1, res.Error
}

// RevokeSession ends a family; its unused tokens stop working.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	return db.Conn(ctx, s.db).Model(&Session{}).
		Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", now).Error
}

// RevokeUserSessions ends every family of a user.
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, now time.Time) (int64, error) {
	res := db.Conn(ctx, s.db).Model(&Session{}).
		Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", now)
	return res.RowsAffected, res.Error
}
