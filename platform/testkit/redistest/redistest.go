// Package redistest gives tests the real Redis of TEST_REDIS_URL: a missing
// TEST_REDIS_URL with nothing at the default address skips the test, a set
// but unreachable one fails it (CI sets it, so Redis tests never silently
// skip there).
package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is tried when TEST_REDIS_URL is unset (database 15: scratch).
const DefaultURL = "redis://127.0.0.1:6379/15"

// URL is TEST_REDIS_URL, or DefaultURL; explicit says which.
func URL() (url string, explicit bool) {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u, true
	}
	return DefaultURL, false
}

// Client connects to URL() with newClient (nil: redis.ParseURL defaults),
// closes it when the test ends, and skips or fails when Redis does not
// answer a ping.
func Client(tb testing.TB, newClient func(url string) (*redis.Client, error)) *redis.Client {
	tb.Helper()
	url, explicit := URL()
	if newClient == nil {
		newClient = func(url string) (*redis.Client, error) {
			opt, err := redis.ParseURL(url)
			if err != nil {
				return nil, err
			}
			return redis.NewClient(opt), nil
		}
	}
	rdb, err := newClient(url)
	if err != nil {
		tb.Fatalf("redis client: %v", err)
	}
	tb.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		if explicit {
			tb.Fatalf("TEST_REDIS_URL=%s unreachable: %v", url, err)
		}
		tb.Skipf("no Redis at %s (set TEST_REDIS_URL): %v", url, err)
	}
	return rdb
}
