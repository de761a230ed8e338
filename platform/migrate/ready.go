package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Ready reports whether every module's schema is at least at the version
// this binary embeds, and clean. It reads the version tables through the
// application's own pool: opening golang-migrate per module (Status) costs
// a connection and several statements each, which a loaded instance's
// readiness probe cannot afford every few seconds.
//
// A database *ahead* of the binary is ready: migrations are expand/contract
// (docs/migrations.md), so during a rolling deploy the old release keeps
// serving on the schema the new one has already expanded.
func (m *Migrator) Ready(ctx context.Context, db *sql.DB) error {
	for _, mod := range m.modules {
		latest, err := m.latest(mod)
		if err != nil {
			return err
		}
		var (
			version int64
			dirty   bool
		)
		// The table name is ours (schema_migrations_<module>), never input.
		err = db.QueryRowContext(ctx, "SELECT version, dirty FROM schema_migrations_"+mod+" LIMIT 1").Scan(&version, &dirty)
		if errors.Is(err, sql.ErrNoRows) {
			version = 0
		} else if err != nil {
			return fmt.Errorf("version of %s: %w", mod, err)
		}
		if dirty || version < int64(latest) {
			return fmt.Errorf("module %s at %d of %d (dirty=%v)", mod, version, latest, dirty)
		}
	}
	return nil
}
