// Package dbtest opens migrated stores for platform package tests: an
// embedded SQLite file always, and a throwaway Postgres database when
// TEST_DATABASE_URL is set (REQUIRE_POSTGRES=1 makes its absence a failure,
// so CI never skips the Postgres half silently).
package dbtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"example.com/productapi/migrations"
	"example.com/productapi/platform/config"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/migrate"
	"example.com/productapi/platform/testkit/pgtest"
)

// Store opens one kind of store with the given modules' migrations applied.
type Store struct {
	Name string
	Open func(t *testing.T) *db.DB
}

// Stores lists SQLite, and Postgres when configured, each migrated up for modules.
func Stores(t *testing.T, modules ...string) []Store {
	t.Helper()
	out := []Store{{"sqlite", func(t *testing.T) *db.DB { return SQLite(t, modules...) }}}
	if pgtest.Configured(t) {
		out = append(out, Store{"postgres", func(t *testing.T) *db.DB {
			cfg := dbConfig()
			cfg.URL = pgtest.FreshDatabase(t, "papi_pkg")
			return openAndMigrate(t, cfg, modules)
		}})
	}
	return out
}

// SQLite opens a migrated embedded store in the test's temp dir.
func SQLite(t testing.TB, modules ...string) *db.DB {
	t.Helper()
	cfg := dbConfig()
	cfg.SQLitePath = filepath.Join(t.TempDir(), "test.db")
	return openAndMigrate(t, cfg, modules)
}

func dbConfig() config.Database {
	return config.Database{MaxOpenConns: 8, MaxIdleConns: 4, ConnMaxLifetime: time.Minute, ConnMaxIdleTime: time.Minute,
		QueryTimeout: 10 * time.Second, ConnectTimeout: 5 * time.Second}
}

func openAndMigrate(t testing.TB, cfg config.Database, modules []string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := migrate.New(migrations.FS, modules, string(d.Dialect), d.MigrateURL, nil).Up(); err != nil {
		t.Fatal(err)
	}
	return d
}
