package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"example.com/productapi/platform/db"
	"example.com/productapi/platform/query"
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

// deadLetterAPI is the admin API on a bare gin engine.
func deadLetterAPI(b *Bus) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	b.Routes(r.Group("/v1"))
	return r
}

func do(t *testing.T, h http.Handler, method, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var body map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
	return rec.Code, body
}

func TestDeadLettersAndReplayOverHTTP(t *testing.T) {
	stores(t, func(t *testing.T, d *db.DB) {
		cfg := testConfig(t, d)
		cfg.MaxAttempts = 3
		cfg.Cursors = query.NewCodec([]byte("test-cursor-key"))
		b := newBus(t, cfg)
		var healthy atomic.Bool
		var calls atomic.Int32
		b.Subscribe("fragile", []string{typPlaced}, func(ctx context.Context, e Event) error {
			calls.Add(1)
			if healthy.Load() {
				return recordEffect(d, "fragile")(ctx, e)
			}
			return fmt.Errorf("stock service said no for %s", e.Key)
		})
		b.Subscribe("strict", []string{typOther}, func(ctx context.Context, e Event) error {
			return Permanent(errors.New("payload is not valid for this consumer"))
		})
		start(t, b)
		ctx := context.Background()
		placed, _ := b.Append(ctx, typPlaced, "o-1", payload{7})
		other, _ := b.Append(ctx, typOther, "p-1", payload{8})
		testkit.Eventually(t, 10*time.Second, "two dead letters", func() bool {
			return count(t, d, `SELECT COUNT(*) FROM event_dead_letters`) == 2
		})
		if c := calls.Load(); c != 3 {
			t.Errorf("fragile called %d times before dead-lettering, want MaxAttempts=3", c)
		}
		api := deadLetterAPI(b)

		code, list := do(t, api, "GET", "/v1/admin/dead-letters?consumer=strict")
		items, _ := list["data"].([]any)
		if code != 200 || len(items) != 1 {
			t.Fatalf("list strict: %d %v", code, list)
		}
		strict := items[0].(map[string]any)
		if strict["attempts"].(float64) != 1 || strict["event_id"] != other.ID || strict["replayed_at"] != nil ||
			strict["error"] != "payload is not valid for this consumer" {
			t.Errorf("permanent dead letter = %v", strict)
		}
		// Paging: limit=1 walks both.
		code, page := do(t, api, "GET", "/v1/admin/dead-letters?limit=1")
		next, _ := page["next_cursor"].(string)
		if code != 200 || next == "" {
			t.Fatalf("page 1: %d %v", code, page)
		}
		code, page2 := do(t, api, "GET", "/v1/admin/dead-letters?limit=1&cursor="+next)
		if code != 200 || page2["next_cursor"] != nil || len(page2["data"].([]any)) != 1 {
			t.Fatalf("page 2: %d %v", code, page2)
		}
		if code, _ := do(t, api, "GET", "/v1/admin/dead-letters?limit=1000"); code != 400 {
			t.Errorf("limit=1000: %d, want 400", code)
		}

		code, list = do(t, api, "GET", "/v1/admin/dead-letters?type="+typPlaced)
		if code != 200 {
			t.Fatalf("list by type: %d %v", code, list)
		}
		dl := list["data"].([]any)[0].(map[string]any)
		id := dl["id"].(string)
		if dl["event_id"] != placed.ID || dl["attempts"].(float64) != 3 || dl["error"] != "stock service said no for o-1" {
			t.Errorf("dead letter = %v", dl)
		}
		if p, _ := dl["payload"].(map[string]any); p["n"].(float64) != 7 {
			t.Errorf("payload = %v, want the object", dl["payload"])
		}
		if code, one := do(t, api, "GET", "/v1/admin/dead-letters/"+id); code != 200 || one["id"] != id || one["payload"] == nil {
			t.Errorf("get: %d %v", code, one)
		}
		if code, one := do(t, api, "GET", "/v1/admin/dead-letters/"+id+"?fields=id,error"); code != 200 || len(one) != 2 ||
			one["id"] != id || one["error"] != "stock service said no for o-1" {
			t.Errorf("get with fields: %d %v", code, one)
		}
		if code, _ := do(t, api, "GET", "/v1/admin/dead-letters/"+id+"?fields=secret"); code != 400 {
			t.Errorf("get with an unknown field: %d, want 400", code)
		}
		for _, bad := range []string{"nope", "0190a0b0-0000-7000-8000-000000000000"} {
			if code, _ := do(t, api, "GET", "/v1/admin/dead-letters/"+bad); code != 404 {
				t.Errorf("get %s: %d, want 404", bad, code)
			}
			if code, _ := do(t, api, "POST", "/v1/admin/dead-letters/"+bad+"/replay"); code != 404 {
				t.Errorf("replay %s: %d, want 404", bad, code)
			}
		}

		healthy.Store(true)
		code, replayed := do(t, api, "POST", "/v1/admin/dead-letters/"+id+"/replay")
		if code != 200 || replayed["replayed_at"] == nil {
			t.Fatalf("replay: %d %v", code, replayed)
		}
		if rows, _ := countEffects(t, d, "fragile"); rows != 1 {
			t.Fatalf("replay effects = %d, want 1", rows)
		}
		if code, body := do(t, api, "POST", "/v1/admin/dead-letters/"+id+"/replay"); code != 409 {
			t.Fatalf("second replay: %d %v, want 409", code, body)
		}
		// A replay that fails again is pending (202) and dead-letters anew.
		code, list = do(t, api, "GET", "/v1/admin/dead-letters?consumer=strict")
		if code != 200 {
			t.Fatalf("list by consumer: %d %v", code, list)
		}
		sid := list["data"].([]any)[0].(map[string]any)["id"].(string)
		if code, body := do(t, api, "POST", "/v1/admin/dead-letters/"+sid+"/replay"); code != 202 {
			t.Fatalf("failing replay: %d %v, want 202", code, body)
		}
		testkit.Eventually(t, 5*time.Second, "new dead letter", func() bool {
			return count(t, d, `SELECT COUNT(*) FROM event_dead_letters WHERE consumer = 'strict' AND replayed_at IS NULL`) == 1
		})
		if code, list := do(t, api, "GET", "/v1/admin/dead-letters?replayed=false"); code != 200 || len(list["data"].([]any)) != 1 {
			t.Errorf("open dead letters: %d %v", code, list)
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
