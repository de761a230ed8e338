package audit_test

import (
	"example.com/productapi/platform/testkit/pgtest"

	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	_ "github.com/jackc/pgx/v5/stdlib"

	"example.com/productapi/migrations"
	"example.com/productapi/platform/config"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/migrate"
	"example.com/productapi/platform/query"
)

type store struct {
	name string
	open func(t *testing.T) *db.DB
}

// stores lists SQLite always and Postgres when TEST_DATABASE_URL is set
// (REQUIRE_POSTGRES=1 makes its absence a failure).
func stores(t *testing.T) []store {
	t.Helper()
	out := []store{{"sqlite", openSQLite}}
	if os.Getenv("TEST_DATABASE_URL") != "" {
		out = append(out, store{"postgres", openPostgres})
	} else if os.Getenv("REQUIRE_POSTGRES") == "1" {
		t.Fatal("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
	}
	return out
}

func dbConfig() config.Database {
	return config.Database{MaxOpenConns: 8, MaxIdleConns: 4, ConnMaxLifetime: time.Minute, ConnMaxIdleTime: time.Minute,
		QueryTimeout: 10 * time.Second, ConnectTimeout: 5 * time.Second}
}

func openSQLite(t *testing.T) *db.DB {
	t.Helper()
	cfg := dbConfig()
	cfg.SQLitePath = filepath.Join(t.TempDir(), "audit.db")
	return openAndMigrate(t, cfg)
}

func openPostgres(t *testing.T) *db.DB {
	t.Helper()
	cfg := dbConfig()
	cfg.URL = freshPostgres(t)
	return openAndMigrate(t, cfg)
}

func openAndMigrate(t *testing.T, cfg config.Database) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := migrate.New(migrations.FS, []string{"audit", "flags"}, string(d.Dialect), d.MigrateURL, nil).Up(); err != nil {
		t.Fatal(err)
	}
	return d
}

// freshPostgres is a throwaway database for one test.
func freshPostgres(t *testing.T) string { return pgtest.FreshDatabase(t, "papi_audit") }

func init() { gin.SetMode(gin.TestMode) }

func queryCodec() *query.Codec { return query.NewCodec([]byte("test-cursor-key-0123456789abcdef")) }
