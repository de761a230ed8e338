// Package flagstore is the flag table (feature_flags) and the admin use
// cases over it: listing, reading and the versioned, audited write of a
// definition. The runtime (platform/flags) reads the table through Store
// as its flags.Source; the admin API (flagshttp) calls Admin.
package flagstore

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/flags"
	"example.com/productapi/platform/query"
)

// row is a flags.Stored as GORM maps it.
type row flags.Stored

func (row) TableName() string { return "feature_flags" }

// Store reads and writes the flag table.
type Store struct{ db *gorm.DB }

var _ flags.Source = (*Store)(nil)

// New returns the store on base (the primary).
func New(base *gorm.DB) *Store { return &Store{db: base} }

// All returns every flag, by key.
func (s *Store) All(ctx context.Context) ([]flags.Stored, error) {
	var rows []row
	if err := s.db.WithContext(ctx).Order("key").Find(&rows).Error; err != nil {
		return nil, err
	}
	return stored(rows), nil
}

// Fingerprint reads (count, sum of versions): it changes with every write.
func (s *Store) Fingerprint(ctx context.Context) (count, versionSum int64, err error) {
	var r struct{ N, S int64 }
	err = s.db.WithContext(ctx).Raw("SELECT COUNT(*) AS n, COALESCE(SUM(version), 0) AS s FROM feature_flags").Scan(&r).Error
	return r.N, r.S, err
}

// SeedMissing inserts the rows whose key is not stored yet.
func (s *Store) SeedMissing(ctx context.Context, seed []flags.Stored) error {
	rows := make([]row, len(seed))
	for i, r := range seed {
		rows[i] = row(r)
	}
	return s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error
}

// page reads one keyset page (by key) of limit+1 rows (query.NextPage).
func (s *Store) page(ctx context.Context, desc bool, ks *query.Keyset, limit int) ([]flags.Stored, error) {
	var rows []row
	q := query.ApplyKeyset(s.db.WithContext(ctx).Model(&row{}), "key", "key", desc, ks, limit)
	if err := q.Find(&rows).Error; err != nil {
		return nil, apperr.Internal(err)
	}
	return stored(rows), nil
}

// load reads key inside the unit of work ctx carries, locking the row for
// the transaction when lock is set.
func (s *Store) load(ctx context.Context, key string, lock bool) (flags.Stored, bool, error) {
	q := db.Conn(ctx, s.db)
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var r row
	err := q.Where("key = ?", key).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return flags.Stored{}, false, nil
	}
	if err != nil {
		return flags.Stored{}, false, apperr.Internal(fmt.Errorf("load flag %q: %w", key, err))
	}
	return flags.Stored(r), true, nil
}

// insert creates r; a concurrent create of the same key is errConflict.
func (s *Store) insert(ctx context.Context, r flags.Stored) error {
	nr := row(r)
	if err := db.Conn(ctx, s.db).Create(&nr).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return errConflict
		}
		return apperr.Internal(err)
	}
	return nil
}

// update replaces the row of r.Key if it still has version prev, and
// reports whether it did.
func (s *Store) update(ctx context.Context, r flags.Stored, prev int64) (bool, error) {
	res := db.Conn(ctx, s.db).Model(&row{}).Where("key = ? AND version = ?", r.Key, prev).
		Updates(map[string]any{"definition": r.Definition, "version": r.Version, "updated_at": r.UpdatedAt, "updated_by": r.UpdatedBy})
	if res.Error != nil {
		return false, apperr.Internal(res.Error)
	}
	return res.RowsAffected == 1, nil
}

func stored(rows []row) []flags.Stored {
	out := make([]flags.Stored, len(rows))
	for i, r := range rows {
		out[i] = flags.Stored(r)
	}
	return out
}
