// Package pgtest gives each test its own throwaway Postgres database on the
// server named by TEST_DATABASE_URL, so tests run in parallel and leave
// nothing behind. Without TEST_DATABASE_URL the test is skipped, or fails
// when REQUIRE_POSTGRES=1 (CI must never skip the Postgres suite silently).
package pgtest

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"example.com/productapi/platform/testkit"
)

var seq atomic.Int64

// Configured reports whether TEST_DATABASE_URL is set, for suites that run
// on SQLite alone without it; under REQUIRE_POSTGRES=1 its absence fails tb
// instead (CI must never drop the Postgres half silently).
func Configured(tb testing.TB) bool {
	tb.Helper()
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return true
	}
	if os.Getenv("REQUIRE_POSTGRES") == "1" {
		testkit.Unavailable(tb, "REQUIRE_POSTGRES", "TEST_DATABASE_URL is not set")
	}
	return false
}

// Require skips or fails tb when no Postgres is configured.
func Require(tb testing.TB) string {
	tb.Helper()
	return testkit.Env(tb, "TEST_DATABASE_URL", "REQUIRE_POSTGRES")
}

// FreshDatabase creates a database named <prefix>_<unique> and returns its
// URL; it is dropped (connections forced closed) when the test ends.
func FreshDatabase(tb testing.TB, prefix string) string {
	tb.Helper()
	admin := Require(tb)
	conn, err := sql.Open("pgx", admin)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	name := fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano(), seq.Add(1))
	if _, err := conn.Exec("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() { _, _ = conn.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
