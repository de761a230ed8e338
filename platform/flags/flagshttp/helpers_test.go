package flagshttp_test

import (
	"example.com/productapi/platform/testkit/dbtest"

	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/db"
)

// stores lists the stores every test runs on, migrated for audit and flags.
func stores(t *testing.T) []dbtest.Store { return dbtest.Stores(t, "audit", "flags") }

func openSQLite(t *testing.T) *db.DB { return dbtest.SQLite(t, "audit", "flags") }

// testRedis returns a client for TEST_REDIS_URL, or nil.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		return nil
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, time.Second, time.Second
	rc := redis.NewClient(opt)
	t.Cleanup(func() { _ = rc.Close() })
	if err := rc.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("TEST_REDIS_URL set but Redis does not answer: %v", err)
	}
	return rc
}

func init() { gin.SetMode(gin.TestMode) }

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
