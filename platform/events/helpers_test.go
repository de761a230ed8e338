package events

import (
	"example.com/productapi/platform/testkit/pgtest"

	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"example.com/productapi/migrations"
	"example.com/productapi/platform/config"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/migrate"
)

type storeKind string

const (
	sqliteStore   storeKind = "sqlite"
	postgresStore storeKind = "postgres"
)

// stores runs f once per available store, in parallel subtests.
func stores(t *testing.T, f func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, k := range []storeKind{sqliteStore, postgresStore} {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			f(t, openStore(t, k))
		})
	}
}

// openStore opens a fresh, migrated database of kind k (skipping Postgres
// without TEST_DATABASE_URL unless REQUIRE_POSTGRES=1).
func openStore(t *testing.T, k storeKind) *db.DB {
	t.Helper()
	cfg := config.Database{MaxOpenConns: 10, MaxIdleConns: 5, ConnMaxLifetime: time.Hour, ConnMaxIdleTime: time.Minute}
	if k == postgresStore {
		cfg.URL = freshPostgres(t)
	} else {
		cfg.SQLitePath = filepath.Join(t.TempDir(), "events.db")
	}
	d, err := db.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := migrate.New(migrations.FS, []string{"events"}, string(d.Dialect), d.MigrateURL, nil).Up(); err != nil {
		t.Fatal(err)
	}
	// The effects handlers write: no key, so a double effect shows as two rows.
	if err := d.Gorm.Exec(`CREATE TABLE test_effects (consumer text NOT NULL, event_id text NOT NULL, ekey text NOT NULL, n integer NOT NULL)`).Error; err != nil {
		t.Fatal(err)
	}
	return d
}

// freshPostgres is a throwaway database for one test.
func freshPostgres(t *testing.T) string { return pgtest.FreshDatabase(t, "papi_ev") }

// testConfig is a fast-retrying configuration for d.
func testConfig(t *testing.T, d *db.DB) Config {
	t.Helper()
	return Config{
		DB: d.Gorm, Postgres: d.Dialect == db.Postgres,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxAttempts: 4, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, HandlerTimeout: 5 * time.Second,
	}
}

// newBus builds a bus and closes it at cleanup.
func newBus(t *testing.T, cfg Config) *Bus {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func start(t *testing.T, b *Bus) {
	t.Helper()
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// recordEffect is a transactional handler body: one row per handling.
func recordEffect(base *db.DB, consumer string) Handler {
	return func(ctx context.Context, e Event) error {
		return db.Conn(ctx, base.Gorm).Exec(`INSERT INTO test_effects (consumer, event_id, ekey, n) VALUES (?, ?, ?, 1)`,
			consumer, e.ID, e.Key).Error
	}
}

func countEffects(t *testing.T, d *db.DB, consumer string) (rows, distinct int64) {
	t.Helper()
	if err := d.Gorm.Raw(`SELECT COUNT(*), COUNT(DISTINCT event_id) FROM test_effects WHERE consumer = ?`, consumer).
		Row().Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

func count(t *testing.T, d *db.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.Gorm.Raw(q, args...).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type payload struct {
	N int `json:"n"`
}
