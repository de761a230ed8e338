package query

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ApplyKeyset orders a list query by (sortColumn, idColumn), both in the
// same direction, and, when ks is non-nil, continues after ks with the
// row-value predicate
//
//	WHERE (sortColumn, idColumn) < (?, ?)   -- descending
//	WHERE (sortColumn, idColumn) > (?, ?)   -- ascending
//
// It asks for limit+1 rows so NextPage can tell whether another page exists.
//
// Row values are supported by Postgres and SQLite (3.15+), and with an
// index on (sortColumn, idColumn) Postgres turns the predicate into an index
// range scan: page 10,000 costs what page 1 costs, unlike OFFSET. Because
// the position is a value, not a count, rows inserted during a walk never
// shift the pages: no row is returned twice and none that existed before
// the walk is skipped.
//
// Column names are written into SQL (quoted by the dialect), so they must
// come from an allow-list in code (e.g. a field-to-column map indexed by
// Params.Sort.Field), never from a request. As a backstop, a name that is
// not a plain identifier (optionally table-qualified) is refused by adding
// an error to the returned *gorm.DB. The sort column must be NOT NULL:
// a NULL never compares true and its row would be skipped. Do not add
// another ORDER BY before calling this; it would take precedence.
func ApplyKeyset(db *gorm.DB, sortColumn, idColumn string, desc bool, ks *Keyset, limit int) *gorm.DB {
	sc, ok1 := column(sortColumn)
	ic, ok2 := column(idColumn)
	if !ok1 || !ok2 {
		db = db.Session(&gorm.Session{})
		_ = db.AddError(fmt.Errorf("query: ApplyKeyset: columns %q, %q are not plain identifiers", sortColumn, idColumn))
		return db
	}
	op := ">"
	if desc {
		op = "<"
	}
	order := []clause.OrderByColumn{{Column: sc, Desc: desc}, {Column: ic, Desc: desc}}
	if sc == ic { // sorting by the id itself: one column is enough
		order = order[1:]
		if ks != nil {
			db = db.Where(clause.Expr{SQL: "? " + op + " ?", Vars: []any{ic, ks.ID}})
		}
	} else if ks != nil {
		db = db.Where(clause.Expr{SQL: "(?, ?) " + op + " (?, ?)", Vars: []any{sc, ic, ks.Value, ks.ID}})
	}
	return db.Order(clause.OrderBy{Columns: order}).Limit(max(limit, 1) + 1)
}

// column turns "col" or "table.col" into a clause.Column (quoted by the
// dialect), refusing anything that is not a plain identifier.
func column(name string) (clause.Column, bool) {
	table, col, qualified := strings.Cut(name, ".")
	if !qualified {
		return clause.Column{Name: name}, isIdent(name)
	}
	return clause.Column{Table: table, Name: col}, isIdent(table) && isIdent(col)
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// NextPage trims the extra row ApplyKeyset asked for and reports whether
// there is a next page.
func NextPage[T any](rows []T, limit int) (page []T, hasMore bool) {
	limit = max(limit, 1)
	if len(rows) > limit {
		return rows[:limit], true
	}
	return rows, false
}
