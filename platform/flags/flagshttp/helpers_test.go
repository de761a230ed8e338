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
	"example.com/productapi/platform/flags"
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

// The module flags these tests change: registered here as the orders and
// products modules register them (a platform package imports no module),
// so they are declared booleans with the same defaults.
const (
	checkoutEnabled = "orders.checkout_enabled"
	searchEnabled   = "products.search_enabled"
)

func init() {
	gin.SetMode(gin.TestMode)
	flags.Register(
		flags.Info{Key: checkoutEnabled, Default: true, Description: "test: the checkout kill switch"},
		flags.Info{Key: searchEnabled, Default: true, Description: "test: the search switch"},
	)
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
