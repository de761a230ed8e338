package migrate_test

import (
	"example.com/productapi/platform/testkit/pgtest"

	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"example.com/productapi/migrations"
	"example.com/productapi/platform/migrate"
)

// columns lists "table.column" for every user table (migration bookkeeping
// tables excluded), so two dialects can be compared.
func columns(t *testing.T, db *sql.DB, dialect string) []string {
	t.Helper()
	var q string
	if dialect == "postgres" {
		q = `SELECT table_name || '.' || column_name FROM information_schema.columns
		     WHERE table_schema = 'public' AND table_name NOT LIKE 'schema_migrations%'`
	} else {
		q = `SELECT m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
		     WHERE m.type = 'table' AND m.name NOT LIKE 'schema_migrations%' AND m.name NOT LIKE 'sqlite_%'`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func sqliteDB(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, "sqlite://" + path
}

func postgresDB(t *testing.T) (*sql.DB, string) {
	t.Helper()
	u, err := url.Parse(pgtest.FreshDatabase(t, "papi_mig"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	u.Scheme = "pgx5"
	return db, u.String()
}

func TestDialectsCreateTheSameTablesAndColumns(t *testing.T) {
	sdb, surl := sqliteDB(t)
	pdb, purl := postgresDB(t)
	if err := migrate.New(migrations.FS, migrations.Modules, "sqlite", surl, nil).Up(); err != nil {
		t.Fatal(err)
	}
	if err := migrate.New(migrations.FS, migrations.Modules, "postgres", purl, nil).Up(); err != nil {
		t.Fatal(err)
	}
	s, p := columns(t, sdb, "sqlite"), columns(t, pdb, "postgres")
	if len(s) == 0 {
		t.Fatal("no tables created")
	}
	if !reflect.DeepEqual(s, p) {
		t.Fatalf("schemas differ:\nsqlite:   %v\npostgres: %v", s, p)
	}
}

func TestUpDownRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		dialect string
		open    func(*testing.T) (*sql.DB, string)
	}{{"sqlite", sqliteDB}, {"postgres", postgresDB}} {
		t.Run(tc.dialect, func(t *testing.T) {
			db, u := tc.open(t)
			m := migrate.New(migrations.FS, migrations.Modules, tc.dialect, u, nil)
			if err := m.Up(); err != nil {
				t.Fatal(err)
			}
			st, err := m.Status()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if !s.Current() || s.Latest == 0 {
					t.Fatalf("after up: %+v", s)
				}
			}
			if err := m.Ready(context.Background(), db); err != nil {
				t.Fatalf("ready after up: %v", err)
			}
			// A schema ahead of the binary (a newer release expanded it) is
			// ready; a dirty one is not.
			if _, err := db.Exec("UPDATE schema_migrations_users SET version = version + 1"); err != nil {
				t.Fatal(err)
			}
			if err := m.Ready(context.Background(), db); err != nil {
				t.Fatalf("ready with the schema ahead: %v", err)
			}
			if _, err := db.Exec("UPDATE schema_migrations_users SET version = version - 1, dirty = true"); err != nil {
				t.Fatal(err)
			}
			if err := m.Ready(context.Background(), db); err == nil {
				t.Fatal("a dirty schema is ready")
			}
			if _, err := db.Exec("UPDATE schema_migrations_users SET dirty = false"); err != nil {
				t.Fatal(err)
			}
			if err := m.Up(); err != nil { // idempotent
				t.Fatalf("second up: %v", err)
			}
			if err := m.Down(0); err != nil {
				t.Fatal(err)
			}
			if cols := columns(t, db, tc.dialect); len(cols) != 0 {
				t.Fatalf("down left tables behind: %v", cols)
			}
			st, _ = m.Status()
			for _, s := range st {
				if s.Version != 0 || s.Current() {
					t.Fatalf("after down: %+v", s)
				}
			}
			if err := m.Ready(context.Background(), db); err == nil {
				t.Fatal("ready after down")
			}
		})
	}
}

// Several instances starting at once must apply each migration once; the
// pgx driver's advisory lock serialises them.
func TestConcurrentUpOnPostgres(t *testing.T) {
	db, u := postgresDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- migrate.New(migrations.FS, migrations.Modules, "postgres", u, nil).Up()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent up: %v", err)
		}
	}
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM schema_migrations_products").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("schema_migrations_products has %d rows", n)
	}
}
