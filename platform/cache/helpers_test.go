package cache

import (
	"example.com/productapi/platform/testkit/netproxy"

	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/testkit/redistest"
)

// newRedis is the real Redis of the tests (platform/testkit/redistest),
// with socket timeouts in the URL that win over NewRedisClient's tight
// defaults: a noisy test machine needs the slack (see newCache).
func newRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	return redistest.Client(tb, func(url string) (*redis.Client, error) {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		return NewRedisClient(url + sep + "read_timeout=1s&write_timeout=1s&pool_timeout=1s")
	})
}

// testNamespace is unique per test and run, so parallel runs against one
// Redis neither share keys nor hear each other's invalidations.
func testNamespace(tb testing.TB) string {
	tb.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	return "cachetest:" + name + ":" + hex.EncodeToString(b[:])
}

func testLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newCache builds a started Cache on its own registry and removes it and its
// Redis keys when the test ends. cfg.Namespace defaults to a fresh one,
// cfg.RedisTimeout to 1s.
func newCache(tb testing.TB, cfg Config, rdb redis.UniversalClient) *Cache {
	tb.Helper()
	if cfg.Namespace == "" {
		cfg.Namespace = testNamespace(tb)
	}
	if cfg.RedisTimeout == 0 {
		// The machine is noisy: a test about what L2 holds must not flake
		// because one reply took over 100ms. Failure tests set it explicitly.
		cfg.RedisTimeout = time.Second
	}
	c, err := New(cfg, rdb, testLogger(tb), prometheus.NewRegistry())
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(func() {
		cancel()
		_ = c.Close()
		if rdb != nil {
			deleteNamespace(tb, rdb, cfg.Namespace)
		}
	})
	c.Start(ctx)
	return c
}

func deleteNamespace(tb testing.TB, rdb redis.UniversalClient, ns string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, globEscape(ns+":")+"*", 500).Iterator()
	for iter.Next(ctx) {
		_ = rdb.Del(ctx, iter.Val()).Err()
	}
}

// loader returns a Loader serving value and counting its calls.
func loader(value string, calls *int64, mu *sync.Mutex) Loader {
	return func(context.Context) ([]byte, bool, error) {
		mu.Lock()
		*calls++
		mu.Unlock()
		return []byte(value), true, nil
	}
}

// startProxy is a cuttable TCP proxy in front of Redis.
func startProxy(tb testing.TB, target string) *netproxy.Proxy { return netproxy.Start(tb, target) }
