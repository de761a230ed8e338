package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"example.com/productapi/platform/db"
	"example.com/productapi/platform/testkit"
)

const (
	typPlaced = "orders.order_placed.v1"
	typOther  = "products.stock_changed.v1"
)

func TestAppendValidates(t *testing.T) {
	d := openStore(t, sqliteStore)
	b := newBus(t, testConfig(t, d))
	for _, typ := range []string{"", "orders", "Orders.placed.v1", "orders.placed", "orders.placed.v", "orders.placed.v1.x"} {
		if _, err := b.Append(context.Background(), typ, "k", payload{1}); err == nil {
			t.Errorf("Append(%q) accepted", typ)
		}
	}
	if _, err := b.Append(context.Background(), typPlaced, "k", []int{1}); err == nil {
		t.Error("non-object payload accepted")
	}
	ev, err := b.Append(context.Background(), typPlaced, "k", payload{1})
	if err != nil || ev.ID == "" || string(ev.Payload) != `{"n":1}` {
		t.Fatalf("Append = %+v, %v", ev, err)
	}
}

func TestRolledBackAppendIsNeverDeliveredCommittedIsDeliveredOnceToEach(t *testing.T) {
	stores(t, func(t *testing.T, d *db.DB) {
		reg := prometheus.NewRegistry()
		cfg := testConfig(t, d)
		cfg.Registry = reg
		b := newBus(t, cfg)
		b.Subscribe("alpha", []string{typPlaced}, recordEffect(d, "alpha"))
		b.Subscribe("beta", []string{typPlaced, typOther}, recordEffect(d, "beta"))
		b.Subscribe("gamma", []string{typOther}, recordEffect(d, "gamma"))
		start(t, b)
		ctx := context.Background()
		boom := errors.New("boom")
		err := db.Transact(ctx, d.Gorm, func(ctx context.Context) error {
			if _, err := b.Append(ctx, typPlaced, "o-1", payload{1}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		var committed []string
		for i := 0; i < 10; i++ {
			err := db.Transact(ctx, d.Gorm, func(ctx context.Context) error {
				ev, err := b.Append(ctx, typPlaced, fmt.Sprintf("o-%d", i%3), payload{i})
				committed = append(committed, ev.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		testkit.Eventually(t, 10*time.Second, "delivery to alpha and beta", func() bool {
			a, _ := countEffects(t, d, "alpha")
			b, _ := countEffects(t, d, "beta")
			return a == 10 && b == 10
		})
		time.Sleep(100 * time.Millisecond) // room for a wrong extra delivery
		for _, c := range []string{"alpha", "beta"} {
			if rows, distinct := countEffects(t, d, c); rows != 10 || distinct != 10 {
				t.Errorf("%s: %d effects of %d events, want 10 of 10", c, rows, distinct)
			}
		}
		if rows, _ := countEffects(t, d, "gamma"); rows != 0 {
			t.Errorf("gamma got %d events of a type it did not subscribe to", rows)
		}
		if n := count(t, d, `SELECT COUNT(*) FROM event_outbox`); n != 10 {
			t.Errorf("outbox holds %d rows, want 10 (the rolled-back one never existed)", n)
		}
		if n := count(t, d, `SELECT COUNT(*) FROM event_deliveries`); n != 0 {
			t.Errorf("%d deliveries left pending", n)
		}
		if got := testutil.ToFloat64(b.m.appended.WithLabelValues(typPlaced)); got != 10 {
			t.Errorf("events_appended_total = %v, want 10", got)
		}
		if got := testutil.ToFloat64(b.m.deliveries.WithLabelValues("alpha", "ok")); got != 10 {
			t.Errorf("events_deliveries_total{alpha,ok} = %v, want 10", got)
		}
	})
}

func TestPerKeyOrder(t *testing.T) {
	stores(t, func(t *testing.T, d *db.DB) {
		cfg := testConfig(t, d)
		cfg.Workers = 8
		b := newBus(t, cfg)
		var mu sync.Mutex
		seen := map[string][]int{}
		failedOnce := map[string]bool{}
		b.Subscribe("orderer", []string{typPlaced}, func(ctx context.Context, e Event) error {
			var p payload
			_ = json.Unmarshal(e.Payload, &p)
			mu.Lock()
			defer mu.Unlock()
			if p.N%7 == 3 && !failedOnce[e.ID] { // a retry must hold its key back
				failedOnce[e.ID] = true
				return errors.New("transient")
			}
			seen[e.Key] = append(seen[e.Key], p.N)
			return nil
		})
		for i := 0; i < 60; i++ {
			if _, err := b.Append(context.Background(), typPlaced, fmt.Sprintf("k%d", i%4), payload{i}); err != nil {
				t.Fatal(err)
			}
		}
		start(t, b)
		testkit.Eventually(t, 15*time.Second, "60 handled", func() bool {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, v := range seen {
				n += len(v)
			}
			return n == 60
		})
		mu.Lock()
		defer mu.Unlock()
		for k, ns := range seen {
			for i := 1; i < len(ns); i++ {
				if ns[i] < ns[i-1] {
					t.Fatalf("key %s handled out of order: %v", k, ns)
				}
			}
		}
	})
}

func TestTransactionalHandlerEffectAndInboxCommitTogether(t *testing.T) {
	stores(t, func(t *testing.T, d *db.DB) {
		b := newBus(t, testConfig(t, d))
		var calls atomic.Int32
		effect := recordEffect(d, "tx")
		b.Subscribe("tx", []string{typPlaced}, func(ctx context.Context, e Event) error {
			// Write the effect, then fail the first time: the write must roll
			// back with the missing inbox row.
			if err := effect(ctx, e); err != nil {
				return err
			}
			if calls.Add(1) == 1 {
				return errors.New("fail after writing")
			}
			return nil
		})
		start(t, b)
		ev, err := b.Append(context.Background(), typPlaced, "k", payload{1})
		if err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "handled", func() bool {
			return count(t, d, `SELECT COUNT(*) FROM event_inbox WHERE consumer = 'tx' AND event_id = ?`, ev.ID) == 1
		})
		if rows, _ := countEffects(t, d, "tx"); rows != 1 || calls.Load() != 2 {
			t.Fatalf("effects = %d after %d calls, want 1 after 2", rows, calls.Load())
		}
		// A duplicate delivery (a second relay, a lost ack) finds the inbox
		// row and does not run the handler.
		if err := d.Gorm.Create(&deliveryRow{Consumer: "tx", EventID: ev.ID, Seq: 1, EventKey: "k", NextAttemptAt: now()}).Error; err != nil {
			t.Fatal(err)
		}
		wake(b.dispatchWake)
		testkit.Eventually(t, 10*time.Second, "duplicate consumed", func() bool {
			return count(t, d, `SELECT COUNT(*) FROM event_deliveries`) == 0
		})
		if rows, _ := countEffects(t, d, "tx"); rows != 1 || calls.Load() != 2 {
			t.Fatalf("duplicate had an effect: %d effects, %d calls", rows, calls.Load())
		}
	})
}

func TestRetriesWithBackoffThenSucceeds(t *testing.T) {
	stores(t, func(t *testing.T, d *db.DB) {
		cfg := testConfig(t, d)
		cfg.MaxAttempts = 5
		cfg.BaseBackoff, cfg.MaxBackoff = 40*time.Millisecond, 100*time.Millisecond
		b := newBus(t, cfg)
		var mu sync.Mutex
		var at []time.Time
		b.SubscribeWith("flaky", []string{typPlaced}, SubscribeOptions{}, func(ctx context.Context, e Event) error {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, time.Now())
			if len(at) < 3 {
				return errors.New("downstream unavailable")
			}
			return nil
		})
		start(t, b)
		if _, err := b.Append(context.Background(), typPlaced, "k", payload{1}); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "success", func() bool {
			return count(t, d, `SELECT COUNT(*) FROM event_inbox WHERE consumer = 'flaky'`) == 1
		})
		mu.Lock()
		defer mu.Unlock()
		if len(at) != 3 {
			t.Fatalf("%d calls, want 3", len(at))
		}
		if n := count(t, d, `SELECT COUNT(*) FROM event_dead_letters`); n != 0 {
			t.Fatalf("%d dead letters", n)
		}
	})
}

func TestPendingEventsSurviveABusRestart(t *testing.T) {
	stores(t, func(t *testing.T, d *db.DB) {
		cfg := testConfig(t, d)
		release := make(chan struct{})
		var handled atomic.Int32
		subscribe := func(b *Bus, gate bool) {
			b.Subscribe("slow", []string{typPlaced}, func(ctx context.Context, e Event) error {
				if gate {
					select {
					case <-release:
					case <-time.After(200 * time.Millisecond):
					}
				}
				handled.Add(1)
				return recordEffect(d, "slow")(ctx, e)
			})
		}
		b1, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		subscribe(b1, true)
		start(t, b1)
		for i := 0; i < 30; i++ {
			if _, err := b1.Append(context.Background(), typPlaced, fmt.Sprintf("k%d", i%5), payload{i}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		b1.Close() // in-flight handlers finish; the rest stays pending
		close(release)
		first := handled.Load()
		if first >= 30 {
			t.Fatalf("first bus handled everything (%d); the test proves nothing", first)
		}
		b2 := newBus(t, cfg)
		subscribe(b2, false)
		start(t, b2)
		testkit.Eventually(t, 10*time.Second, "all 30 handled", func() bool {
			rows, _ := countEffects(t, d, "slow")
			return rows >= 30
		})
		time.Sleep(100 * time.Millisecond)
		if rows, distinct := countEffects(t, d, "slow"); rows != 30 || distinct != 30 {
			t.Fatalf("after restart: %d effects of %d events, want 30 of 30", rows, distinct)
		}
		t.Logf("first bus handled %d, second the rest", first)
	})
}

func TestTwoInstancesShareOnePostgres(t *testing.T) {
	d := openStore(t, postgresStore)
	var mu sync.Mutex
	handledBy := map[string][]int{} // event id -> instances
	const n = 120
	buses := make([]*Bus, 2)
	for i := range buses {
		cfg := testConfig(t, d)
		buses[i] = newBus(t, cfg)
		buses[i].Subscribe("shared", []string{typPlaced}, func(ctx context.Context, e Event) error {
			mu.Lock()
			handledBy[e.ID] = append(handledBy[e.ID], i)
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			return recordEffect(d, "shared")(ctx, e)
		})
	}
	for _, b := range buses {
		start(t, b)
	}
	for i := 0; i < n; i++ {
		if _, err := buses[i%2].Append(context.Background(), typPlaced, fmt.Sprintf("k%d", i%20), payload{i}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 20*time.Second, "all handled", func() bool {
		rows, _ := countEffects(t, d, "shared")
		return rows >= n
	})
	time.Sleep(150 * time.Millisecond)
	if rows, distinct := countEffects(t, d, "shared"); rows != n || distinct != n {
		t.Fatalf("%d effects of %d events, want %d of %d", rows, distinct, n, n)
	}
	mu.Lock()
	defer mu.Unlock()
	per := [2]int{}
	for id, who := range handledBy {
		if len(who) != 1 {
			t.Errorf("event %s handled by %v", id, who)
		}
		per[who[0]]++
	}
	if per[0] == 0 || per[1] == 0 {
		t.Errorf("work not shared: %v", per)
	}
	t.Logf("instance share: %v", per)
}

func TestRedeliverRebuildsAReadModel(t *testing.T) {
	stores(t, func(t *testing.T, d *db.DB) {
		b := newBus(t, testConfig(t, d))
		b.Subscribe("model", []string{typPlaced}, recordEffect(d, "model"))
		b.Subscribe("bystander", []string{typPlaced}, recordEffect(d, "bystander"))
		start(t, b)
		for i := 0; i < 25; i++ {
			if _, err := b.Append(context.Background(), typPlaced, fmt.Sprintf("k%d", i%3), payload{i}); err != nil {
				t.Fatal(err)
			}
		}
		testkit.Eventually(t, 10*time.Second, "first pass", func() bool {
			a, _ := countEffects(t, d, "model")
			b, _ := countEffects(t, d, "bystander")
			return a == 25 && b == 25
		})
		if err := d.Gorm.Exec(`DELETE FROM test_effects WHERE consumer = 'model'`).Error; err != nil {
			t.Fatal(err)
		}
		if err := b.Redeliver(context.Background(), "model", []string{typPlaced}); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "rebuild", func() bool {
			a, _ := countEffects(t, d, "model")
			return a == 25
		})
		time.Sleep(100 * time.Millisecond)
		if rows, distinct := countEffects(t, d, "model"); rows != 25 || distinct != 25 {
			t.Errorf("rebuilt model: %d of %d", rows, distinct)
		}
		if rows, _ := countEffects(t, d, "bystander"); rows != 25 {
			t.Errorf("bystander got %d effects, want 25 (Redeliver is per consumer)", rows)
		}
		if err := b.Redeliver(context.Background(), "nobody", []string{typPlaced}); err == nil {
			t.Error("Redeliver to an unknown consumer succeeded")
		}
	})
}

func TestValidatePayload(t *testing.T) {
	schema := []byte(`{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}},"additionalProperties":false}`)
	if err := ValidatePayload(schema, []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{}`, `{"n":"1"}`, `{"n":1,"x":2}`, `[`} {
		if err := ValidatePayload(schema, []byte(bad)); err == nil {
			t.Errorf("%s validated", bad)
		}
	}
}

func TestBackoffIsBoundedWithJitter(t *testing.T) {
	for attempt := 1; attempt < 40; attempt++ {
		for i := 0; i < 50; i++ {
			d := backoff(attempt, 200*time.Millisecond, 30*time.Second)
			if d <= 0 || d > 30*time.Second+time.Millisecond {
				t.Fatalf("backoff(%d) = %v", attempt, d)
			}
		}
	}
	if !strings.Contains(errorText(&handlerError{errors.New("a\nb")}), "a") || errorText(errors.New("pq: syntax error at SELECT")) == "pq: syntax error at SELECT" {
		t.Error("errorText leaks or mangles")
	}
}
