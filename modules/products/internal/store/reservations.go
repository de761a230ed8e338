package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"example.com/productapi/platform/db"
)

// ReservationLine is one product of a stock reservation.
type ReservationLine struct {
	ReservationID  string `gorm:"primaryKey"`
	ProductID      string `gorm:"primaryKey"`
	SKU            string `gorm:"column:sku"`
	Name           string
	UnitPriceCents int64
	Currency       string
	Quantity       int64
	CreatedAt      time.Time
	ReleasedAt     *time.Time
}

func (ReservationLine) TableName() string { return "product_reservations" }

// Reservation returns the lines of a reservation (none if it never existed).
func (s *Store) Reservation(ctx context.Context, reservationID string) ([]ReservationLine, error) {
	var lines []ReservationLine
	err := db.Conn(ctx, s.db).Where("reservation_id = ?", reservationID).Order("product_id").Find(&lines).Error
	return lines, err
}

// TakeStock decrements stock if enough is left, in one conditional UPDATE:
// the row lock it takes is what serialises concurrent checkouts of one
// product, so no read-then-write window exists.
func (s *Store) TakeStock(ctx context.Context, productID string, quantity int64) (bool, error) {
	res := db.Conn(ctx, s.db).Model(&Row{}).Where("id = ? AND stock >= ?", productID, quantity).
		Updates(map[string]any{"stock": gorm.Expr("stock - ?", quantity), "version": gorm.Expr("version + 1"),
			"updated_at": time.Now().UTC().Truncate(time.Microsecond)})
	return res.RowsAffected == 1, res.Error
}

// InsertReservation records the priced lines.
func (s *Store) InsertReservation(ctx context.Context, lines []ReservationLine) error {
	return db.Conn(ctx, s.db).Create(&lines).Error
}

// ReleaseReservation marks a reservation released and returns its stock,
// once: the conditional UPDATE on released_at lets exactly one of several
// racing releases through. It returns the lines it gave stock back for.
func (s *Store) ReleaseReservation(ctx context.Context, reservationID string) ([]ReservationLine, error) {
	var released []ReservationLine
	err := s.Transact(ctx, func(ctx context.Context) error {
		now := time.Now().UTC().Truncate(time.Microsecond)
		res := db.Conn(ctx, s.db).Model(&ReservationLine{}).
			Where("reservation_id = ? AND released_at IS NULL", reservationID).Update("released_at", now)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		lines, err := s.Reservation(ctx, reservationID)
		if err != nil {
			return err
		}
		for _, l := range lines {
			// A deleted product simply gets nothing back.
			err := db.Conn(ctx, s.db).Model(&Row{}).Where("id = ?", l.ProductID).
				Updates(map[string]any{"stock": gorm.Expr("stock + ?", l.Quantity), "version": gorm.Expr("version + 1"), "updated_at": now}).Error
			if err != nil {
				return err
			}
		}
		released = lines
		return nil
	})
	return released, err
}
