package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"example.com/productapi/platform/db"
)

// DetachUser replaces userID on every order of the user with pseudonym
// (the orders, their totals and items stay for the books; a changed
// representation bumps the version) and forgets the user's stored
// Idempotency-Key responses, which embed the old user_id.
func (s *Store) DetachUser(ctx context.Context, userID, pseudonym string, at time.Time) (int64, error) {
	conn := db.Conn(ctx, s.db)
	res := conn.Model(&Row{}).Where("user_id = ?", userID).Updates(map[string]any{
		"user_id": pseudonym, "version": gorm.Expr("version + 1"), "updated_at": at,
	})
	if res.Error != nil {
		return 0, res.Error
	}
	if err := conn.Where("user_id = ?", userID).Delete(&KeyRow{}).Error; err != nil {
		return 0, err
	}
	if err := conn.Clauses(clause.OnConflict{DoNothing: true}).Create(&erasedRow{Pseudonym: pseudonym, ErasedAt: at}).Error; err != nil {
		return 0, err
	}
	return res.RowsAffected, nil
}

// erasedRow is the order_erased_users table.
type erasedRow struct {
	Pseudonym string `gorm:"primaryKey"`
	ErasedAt  time.Time
}

func (erasedRow) TableName() string { return "order_erased_users" }

// IsErased reports whether the user behind pseudonym was erased.
func (s *Store) IsErased(ctx context.Context, pseudonym string) (bool, error) {
	var n int64
	err := db.Conn(ctx, s.db).Model(&erasedRow{}).Where("pseudonym = ?", pseudonym).Count(&n).Error
	return n > 0, err
}
