package app

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOrdersCheckoutLoad measures POST /v1/orders through the whole stack
// (HTTP, auth, idempotency claim, stock reservation, order insert, outbox;
// payments by the simulated provider run alongside) on Postgres with 32
// concurrent clients, single-line orders:
//
//	distinct: every client buys its own product (no row contention)
//	hot:      every client buys the same product (its row lock serialises
//	          the stock updates)
//
// It is a load test, not part of the normal suite: it runs only with
// ORDERS_LOAD=1 (scripts/orders-load.sh sets it and writes
// docs/benchmarks-orders.md). It reports throughput and latency
// percentiles and never asserts timings. It is a test rather than a Go
// benchmark because it needs the integration harness (*testing.T).
func TestOrdersCheckoutLoad(t *testing.T) {
	if os.Getenv("ORDERS_LOAD") != "1" {
		t.Skip("load test: set ORDERS_LOAD=1 (see scripts/orders-load.sh)")
	}
	requirePostgres(t)
	const clients = 32
	total := 2000
	if n, err := strconv.Atoi(os.Getenv("ORDERS_LOAD_N")); err == nil && n > 0 {
		total = n
	}
	var report strings.Builder
	fmt.Fprintf(&report, "| scenario | orders | clients | orders/s | p50 ms | p95 ms | p99 ms | non-201 |\n|---|---|---|---|---|---|---|---|\n")
	for _, mode := range []string{"distinct", "hot"} {
		t.Run(mode, func(t *testing.T) {
			s := serverWithProvider(t, postgresStore, "")
			admin := s.adminToken()
			products := make([]string, clients)
			for i := range products {
				if mode == "hot" && i > 0 {
					products[i] = products[0]
					continue
				}
				products[i] = s.createProduct(admin, map[string]any{"stock": 1_000_000_000, "sku": fmt.Sprintf("LOAD-%s-%d", mode, i)})["id"].(string)
			}
			var toks []string
			for i := 0; i < 4; i++ {
				_, tok := s.register(fmt.Sprintf("load%d@example.com", i))
				toks = append(toks, tok)
			}
			// Warm up connections and caches.
			for i := 0; i < 50; i++ {
				s.placeOrder(toks[0], fmt.Sprintf("warm-%d", i), orderLine{products[i%clients], 1})
			}
			var next, failed atomic.Int64
			lat := make([][]time.Duration, clients)
			start := time.Now()
			var wg sync.WaitGroup
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						n := next.Add(1)
						if n > int64(total) {
							return
						}
						t0 := time.Now()
						r, err := s.rawDo("POST", "/v1/orders", toks[c%len(toks)], orderBody(orderLine{products[c], 1}),
							"Idempotency-Key", fmt.Sprintf("load-%d", n))
						if err != nil || r.Status != 201 {
							failed.Add(1)
							continue
						}
						lat[c] = append(lat[c], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) == 0 {
				t.Fatal("no successful orders")
			}
			pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000 }
			line := fmt.Sprintf("| %s | %d | %d | %.0f | %.1f | %.1f | %.1f | %d |\n", mode, total, clients,
				float64(len(all))/elapsed.Seconds(), pct(0.50), pct(0.95), pct(0.99), failed.Load())
			t.Log(line)
			report.WriteString(line)
		})
	}
	t.Logf("GOMAXPROCS=%d\n%s", runtime.GOMAXPROCS(0), report.String())
	if out := os.Getenv("ORDERS_LOAD_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
