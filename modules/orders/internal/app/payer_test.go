package app

import (
	"context"
	"encoding/json"
	"errors"
	"example.com/productapi/platform/testkit"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/internal/payments"
	"example.com/productapi/modules/orders/internal/store"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/ids"
	"example.com/productapi/platform/testkit/dbtest"
)

// recorder is the Publisher: it keeps the appended event types.
type recorder struct {
	mu    sync.Mutex
	types []string
}

func (r *recorder) Append(_ context.Context, typ, key string, _ any) (events.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.types = append(r.types, typ)
	return events.Event{Type: typ, Key: key}, nil
}

// The short outage: ten orders, each delivered eight times by the
// bus while the provider is down. Only the calls that reached the provider
// are attempts (the bus sees their errors, the orders count them); the
// open circuit's refusals are handled events (no retry toward a dead
// letter), counted nowhere and moving no retry time. Once the provider is
// back, the drain pays all ten at once although the reconciler's age limit
// and the grown backoffs (an hour here) would hold them back, one charge
// each.
func TestPayerShortOutageParksAndDrains(t *testing.T) {
	for _, kind := range dbtest.Stores(t, "orders") {
		t.Run(kind.Name, func(t *testing.T) {
			d := kind.Open(t)
			st := store.New(d.Gorm, d.Dialect == db.Postgres)
			pub := &recorder{}
			svc := New(st, nil, pub, slog.Default(), nil, nil)

			var down atomic.Bool
			var mu sync.Mutex
			requests, charged := 0, map[string]int{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				requests++
				if down.Load() {
					w.WriteHeader(503)
					return
				}
				key := r.Header.Get("Idempotency-Key")
				charged[key] = 1 // idempotent: a replay is the same charge
				w.WriteHeader(201)
				_, _ = w.Write([]byte(`{"id":"ch_` + key + `","status":"succeeded"}`))
			}))
			defer srv.Close()
			const cooldown = time.Second
			var payer *Payer
			provider := payments.NewHTTP(srv.URL, payments.Options{Timeout: time.Second, BreakerFailures: 3,
				BreakerCooldown: cooldown, OnClose: func() { payer.CircuitClosed() }})
			payer = NewPayer(svc, st, provider, PaymentTiming{ReconcileEvery: time.Hour, ReconcileAfter: time.Hour,
				RetryBase: time.Hour, RetryMax: time.Hour, ProbeEvery: 20 * time.Millisecond}, slog.Default(), nil)

			ctx := context.Background()
			var orderIDs []string
			for range 10 {
				now := store.Now()
				r := store.Row{ID: ids.New(), UserID: "u1", Status: orders.StatusPending, TotalCents: 500, Currency: "EUR",
					Version: 1, CreatedAt: now, UpdatedAt: now}
				if err := st.Insert(ctx, &r, []store.ItemRow{{OrderID: r.ID, LineNo: 1, ProductID: "p1", SKU: "S1",
					Name: "n", UnitPriceCents: 500, Quantity: 1}}); err != nil {
					t.Fatal(err)
				}
				orderIDs = append(orderIDs, r.ID)
			}

			down.Store(true)
			failed := 0
			for range 8 {
				for _, id := range orderIDs {
					raw, _ := json.Marshal(orders.OrderPlacedV1{OrderID: id})
					err := payer.HandlePlaced(ctx, events.Event{ID: ids.New(), Type: orders.EventOrderPlaced, Key: id, Payload: raw})
					if err != nil {
						if !errors.Is(err, payments.ErrTransient) || errors.Is(err, payments.ErrOpen) {
							t.Fatalf("delivery error %v, want a real transient failure", err)
						}
						failed++
					}
				}
			}
			if provider.State() == "closed" {
				t.Fatal("the breaker never opened")
			}
			mu.Lock()
			sent := requests
			mu.Unlock()
			// The bus saw an error exactly for each call that reached the
			// provider: 3 to open the circuit, one more per probe if the
			// cooldown ran out during the loop.
			if failed != sent || sent < 3 || sent > 6 {
				t.Fatalf("%d deliveries failed, the provider saw %d requests (want equal, 3..6)", failed, sent)
			}
			var attempts, retrying int64
			d.Gorm.Raw("SELECT coalesce(sum(payment_attempts), 0) FROM orders").Scan(&attempts)
			d.Gorm.Raw("SELECT count(*) FROM orders WHERE payment_next_at IS NOT NULL").Scan(&retrying)
			if attempts != int64(sent) || retrying > int64(sent) {
				t.Fatalf("%d attempts and %d orders with a retry time counted for %d real calls", attempts, retrying, sent)
			}

			rctx, stop := context.WithCancel(ctx)
			defer func() { stop(); payer.Wait() }()
			payer.Start(rctx)
			down.Store(false)
			took := testkit.Eventually(t, cooldown+10*time.Second, "every order paid after the provider came back", func() bool {
				var paid int64
				d.Gorm.Raw("SELECT count(*) FROM orders WHERE status = ?", orders.StatusPaid).Scan(&paid)
				return paid == int64(len(orderIDs))
			})
			t.Logf("all paid %v after the provider's return (cooldown %v)", took.Round(time.Millisecond), cooldown)
			mu.Lock()
			defer mu.Unlock()
			for _, id := range orderIDs {
				if charged[id] != 1 {
					t.Errorf("order %s: %d charges", id, charged[id])
				}
			}
			pub.mu.Lock()
			defer pub.mu.Unlock()
			if len(pub.types) != len(orderIDs) {
				t.Errorf("events %v, want one %s per order", pub.types, orders.EventOrderPaid)
			}
		})
	}
}
