package observability

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
)

// CountQueries installs GORM callbacks that count every statement GORM runs
// as db_queries_total{operation}: create, query, update, delete, row, raw.
// Divided by http requests it gives "database queries per request", the
// figure that shows what the caches save. Statements issued on the raw
// *sql.DB (health pings, migrations) are not counted.
func (m *Metrics) CountQueries(g *gorm.DB) error {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "db_queries_total", Help: "SQL statements run through GORM, by operation.",
	}, []string{"operation"})
	if err := m.Registry.Register(c); err != nil {
		return err
	}
	cb := g.Callback()
	for op, p := range map[string]interface {
		Register(string, func(*gorm.DB)) error
	}{
		"create": cb.Create().After("*"),
		"query":  cb.Query().After("*"),
		"update": cb.Update().After("*"),
		"delete": cb.Delete().After("*"),
		"row":    cb.Row().After("*"),
		"raw":    cb.Raw().After("*"),
	} {
		inc := c.WithLabelValues(op)
		if err := p.Register("metrics:count_queries", func(db *gorm.DB) {
			// A statement stopped before reaching the database is not a query:
			// no SQL built (an earlier callback failed, e.g. the database guard
			// failing fast) or refused by GORM's own check (update/delete
			// without WHERE). Dry runs build SQL but send nothing.
			if db.Statement != nil && db.Statement.SQL.Len() > 0 && !db.DryRun &&
				!errors.Is(db.Error, gorm.ErrMissingWhereClause) {
				inc.Inc()
			}
		}); err != nil {
			return err
		}
	}
	return nil
}
