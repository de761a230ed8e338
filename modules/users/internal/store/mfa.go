package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"example.com/productapi/platform/db"
)

// MFA is a user's TOTP enrolment; Secret is sealed (auth.SecretBox).
type MFA struct {
	UserID    string `gorm:"primaryKey"`
	Secret    string
	EnabledAt *time.Time
	LastStep  int64
	CreatedAt time.Time
	// Consecutive wrong codes and when the last one came (throttling).
	FailedAttempts int
	FailedAt       *time.Time
}

func (MFA) TableName() string { return "user_mfa" }

// RecoveryCode is one single-use recovery code, SHA-256 hashed.
type RecoveryCode struct {
	UserID   string `gorm:"primaryKey"`
	CodeHash string `gorm:"primaryKey"`
	UsedAt   *time.Time
}

func (RecoveryCode) TableName() string { return "user_mfa_recovery_codes" }

// ErrNoMFA means the user has no enrolment.
var ErrNoMFA = errors.New("no MFA enrolment")

// MFAByUser returns the enrolment of a user or ErrNoMFA.
func (s *Store) MFAByUser(ctx context.Context, userID string) (MFA, error) {
	var m MFA
	err := db.Conn(ctx, s.db).Where("user_id = ?", userID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return m, ErrNoMFA
	}
	return m, err
}

// ReplacePendingMFA stores a new, not yet enabled secret (replacing an
// unconfirmed one). It returns false when MFA is already enabled.
func (s *Store) ReplacePendingMFA(ctx context.Context, m MFA) (bool, error) {
	ok := false
	err := s.Transact(ctx, func(ctx context.Context) error {
		conn := db.Conn(ctx, s.db)
		res := conn.Where("user_id = ? AND enabled_at IS NULL", m.UserID).Delete(&MFA{})
		if res.Error != nil {
			return res.Error
		}
		var n int64
		if err := conn.Model(&MFA{}).Where("user_id = ?", m.UserID).Count(&n).Error; err != nil || n > 0 {
			return err
		}
		ok = true
		return conn.Create(&m).Error
	})
	return ok, err
}

// UseStep records that a TOTP code of step was accepted, only when step is
// after the last accepted one: of two uses of the same code exactly one
// sees true (replay protection).
func (s *Store) UseStep(ctx context.Context, userID string, step int64) (bool, error) {
	res := db.Conn(ctx, s.db).Model(&MFA{}).Where("user_id = ? AND last_step < ?", userID, step).Update("last_step", step)
	return res.RowsAffected == 1, res.Error
}

// EnableMFA activates a pending enrolment and stores its recovery codes.
func (s *Store) EnableMFA(ctx context.Context, userID string, now time.Time, codeHashes []string) (bool, error) {
	ok := false
	err := s.Transact(ctx, func(ctx context.Context) error {
		conn := db.Conn(ctx, s.db)
		res := conn.Model(&MFA{}).Where("user_id = ? AND enabled_at IS NULL", userID).Update("enabled_at", now)
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error
		}
		if err := conn.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return err
		}
		codes := make([]RecoveryCode, len(codeHashes))
		for i, h := range codeHashes {
			codes[i] = RecoveryCode{UserID: userID, CodeHash: h}
		}
		ok = true
		return conn.Create(&codes).Error
	})
	return ok, err
}

// UseRecoveryCode spends a recovery code; true only the first time.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) (bool, error) {
	res := db.Conn(ctx, s.db).Model(&RecoveryCode{}).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, hash).Update("used_at", now)
	return res.RowsAffected == 1, res.Error
}

// DeleteMFA removes the enrolment and its recovery codes.
func (s *Store) DeleteMFA(ctx context.Context, userID string) error {
	return s.Transact(ctx, func(ctx context.Context) error {
		conn := db.Conn(ctx, s.db)
		if err := conn.Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return err
		}
		return conn.Where("user_id = ?", userID).Delete(&MFA{}).Error
	})
}

// RecordMFAFailure counts a wrong code; a failure after the window starts
// a new count.
func (s *Store) RecordMFAFailure(ctx context.Context, userID string, now, windowStart time.Time) error {
	return db.Conn(ctx, s.db).Model(&MFA{}).Where("user_id = ?", userID).Updates(map[string]any{
		"failed_attempts": gorm.Expr("CASE WHEN failed_at IS NULL OR failed_at < ? THEN 1 ELSE failed_attempts + 1 END", windowStart),
		"failed_at":       now,
	}).Error
}

// ResetMFAFailures clears the count after a right code.
func (s *Store) ResetMFAFailures(ctx context.Context, userID string) error {
	return db.Conn(ctx, s.db).Model(&MFA{}).Where("user_id = ? AND failed_attempts > 0", userID).
		Updates(map[string]any{"failed_attempts": 0, "failed_at": nil}).Error
}
