package app

import (
	"context"
	"errors"
	"sync"
	"testing"

	"example.com/productapi/modules/products"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/ids"
)

// The products module's reservation API, as orders uses it: all or nothing,
// never oversold under concurrency, idempotent per reservation, released
// once, and rolled back with the caller's unit of work.
func TestStockReservations(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		ctx := context.Background()
		mod := s.app.products.Service()
		stockOf := func(id string) float64 {
			t.Helper()
			return s.do("GET", "/v1/products/"+id, "", nil).JSON(t)["stock"].(float64)
		}
		hot := s.createProduct(admin, map[string]any{"stock": 5, "price_cents": 250})["id"].(string)
		other := s.createProduct(admin, map[string]any{"stock": 100, "price_cents": 1000})["id"].(string)
		stockOf(hot) // warm the cache: reservations must invalidate it

		// 30 concurrent single-unit reservations against stock 5.
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, lost := 0, 0
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.Transact(ctx, s.app.db.Gorm, func(ctx context.Context) error {
					_, err := mod.Reserve(ctx, ids.New(), []products.Line{{ProductID: hot, Quantity: 1}, {ProductID: other, Quantity: 1}})
					return err
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, products.ErrInsufficientStock):
					lost++
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		if won != 5 || lost != 25 {
			t.Fatalf("won=%d lost=%d, want 5 and 25", won, lost)
		}
		if got := stockOf(hot); got != 0 {
			t.Fatalf("hot stock = %v, want 0", got)
		}
		if got := stockOf(other); got != 95 {
			t.Fatalf("all-or-nothing broken: other stock = %v, want 95", got)
		}

		// Idempotent per reservation ID; priced from the catalogue.
		res := ids.New()
		first, err := mod.Reserve(ctx, res, []products.Line{{ProductID: other, Quantity: 2}, {ProductID: other, Quantity: 1}})
		if err != nil || len(first) != 1 || first[0].Quantity != 3 || first[0].UnitPriceCents != 1000 || first[0].Currency != "EUR" {
			t.Fatalf("reserve = %+v, %v", first, err)
		}
		again, err := mod.Reserve(ctx, res, []products.Line{{ProductID: other, Quantity: 3}})
		if err != nil || len(again) != 1 || again[0] != first[0] {
			t.Fatalf("repeat reserve = %+v, %v", again, err)
		}
		if got := stockOf(other); got != 92 {
			t.Fatalf("stock after idempotent repeat = %v, want 92", got)
		}
		// Released exactly once, even when releases race.
		results := make(chan bool, 5)
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := mod.Release(ctx, res)
				if err != nil {
					t.Error(err)
				}
				results <- ok
			}()
		}
		wg.Wait()
		close(results)
		released := 0
		for ok := range results {
			if ok {
				released++
			}
		}
		if released != 1 || stockOf(other) != 95 {
			t.Fatalf("released %d times, stock %v (want 1 and 95)", released, stockOf(other))
		}
		if ok, err := mod.Release(ctx, ids.New()); ok || err != nil {
			t.Fatalf("releasing an unknown reservation: %v %v", ok, err)
		}

		// A rolled-back unit of work takes no stock.
		boom := errors.New("order insert failed")
		err = db.Transact(ctx, s.app.db.Gorm, func(ctx context.Context) error {
			if _, err := mod.Reserve(ctx, ids.New(), []products.Line{{ProductID: other, Quantity: 10}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || stockOf(other) != 95 {
			t.Fatalf("rollback: err=%v stock=%v", err, stockOf(other))
		}

		// Bad lines.
		usd := s.createProduct(admin, map[string]any{"stock": 5, "currency": "USD"})["id"].(string)
		for name, lines := range map[string][]products.Line{
			"unknown product": {{ProductID: ids.New(), Quantity: 1}},
			"malformed id":    {{ProductID: "nope", Quantity: 1}},
			"zero quantity":   {{ProductID: other, Quantity: 0}},
			"mixed currency":  {{ProductID: other, Quantity: 1}, {ProductID: usd, Quantity: 1}},
			"no lines":        nil,
		} {
			if _, err := mod.Reserve(ctx, ids.New(), lines); apperr.KindOf(err) != apperr.KindValidation {
				t.Errorf("%s: err = %v, want a validation error", name, err)
			}
		}
		if stockOf(other) != 95 || stockOf(usd) != 5 {
			t.Fatal("a refused reservation changed stock")
		}
	})
}
