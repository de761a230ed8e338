package db

import (
	"time"

	"gorm.io/gorm"
)

// UpdateVersioned applies changes (column -> value; a map so zero values
// are written too) to the row with id on q's model, only if it still has
// expectVersion (0 = any), bumping its version and updated_at: the
// optimistic-concurrency write every module's If-Match rests on. matched is
// false when no row had that id and version; the caller tells "gone" from
// "stale".
func UpdateVersioned(q *gorm.DB, id string, expectVersion int64, changes map[string]any) (matched bool, err error) {
	changes["version"] = gorm.Expr("version + 1")
	changes["updated_at"] = time.Now().UTC().Truncate(time.Microsecond)
	q = q.Where("id = ?", id)
	if expectVersion > 0 {
		q = q.Where("version = ?", expectVersion)
	}
	res := q.Updates(changes)
	return res.RowsAffected > 0, res.Error
}
