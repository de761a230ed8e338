package db

import (
	"errors"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	moderncsqlite "modernc.org/sqlite"
)

// SQLite extended result codes (https://sqlite.org/rescode.html) that map to
// GORM's portable errors.
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// sqliteDialector fixes error translation for the modernc driver: GORM's
// sqlite dialector reads the error code by JSON-marshalling the error, which
// only works for mattn/go-sqlite3 (modernc keeps its fields unexported), so
// without this a unique violation would surface as an opaque 500 instead of
// gorm.ErrDuplicatedKey.
type sqliteDialector struct{ sqlite.Dialector }

func (d sqliteDialector) Translate(err error) error {
	var se *moderncsqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
			return gorm.ErrDuplicatedKey
		case sqliteConstraintForeignKey:
			return gorm.ErrForeignKeyViolated
		}
	}
	return err
}
