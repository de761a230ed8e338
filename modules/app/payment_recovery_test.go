package app

import (
	"encoding/json"
	"example.com/productapi/platform/testkit"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"example.com/productapi/platform/testkit/netproxy"
)

// outageProvider is an idempotent fake payment provider that can be down:
// while down it answers 503 (behind the netproxy it can also refuse
// connections). It counts, per Idempotency-Key, the charges it created and
// the charge requests it answered.
type outageProvider struct {
	srv      *httptest.Server
	down     atomic.Bool
	mu       sync.Mutex
	created  map[string]int // successful charges created per order id
	answered map[string]int // requests answered "succeeded" (replays included)
	badKeys  int            // requests whose Idempotency-Key is not the order id
	refused  int            // requests answered 503
}

func newOutageProvider(t *testing.T) *outageProvider {
	p := &outageProvider{created: map[string]int{}, answered: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c struct {
			OrderID string `json:"order_id"`
		}
		if r.Method != "POST" || r.URL.Path != "/v1/charges" || json.NewDecoder(r.Body).Decode(&c) != nil || c.OrderID == "" {
			w.WriteHeader(400)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		p.mu.Lock()
		if key != c.OrderID {
			p.badKeys++
		}
		if p.down.Load() {
			p.refused++
			p.mu.Unlock()
			w.WriteHeader(503)
			return
		}
		if p.created[key] == 0 {
			p.created[key] = 1
		}
		p.answered[key]++
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"id":"ch_%s","status":"succeeded"}`, key)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// outageDuration is how long the provider stays down: 30 s (the issue's
// target) unless TEST_PAYMENT_OUTAGE says otherwise (e.g. 5s locally).
func outageDuration(t *testing.T) time.Duration {
	if v := os.Getenv("TEST_PAYMENT_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TEST_PAYMENT_OUTAGE: %v", err)
		}
		return d
	}
	return 30 * time.Second
}

// Orders placed while the provider is down (first refusing connections,
// then answering 503) are accepted and stay pending; the open breaker's
// rejections are not attempts, so nothing is dead-lettered, and once the
// provider is back the whole backlog is paid within 10 s, each order
// charged once. Production timing throughout (no fastPayments): the
// default breaker cooldown, reconciler interval and bus backoff are what
// must meet the target.
func TestPaymentRecoversAfterOutage(t *testing.T) {
	const n = 100
	outage := outageDuration(t)
	eachStore(t, func(t *testing.T, kind storeKind) {
		fp := newOutageProvider(t)
		proxy := netproxy.Start(t, fp.srv.Listener.Addr().String())
		s := serverWithProvider(t, kind, "http://"+proxy.Addr())
		admin := s.adminToken()
		_, ann := s.register("ann@example.com")
		p := s.createProduct(admin, map[string]any{"stock": n, "price_cents": 500})["id"].(string)

		// Down: refused for the first half, 503 for the second; n orders
		// spread over the whole outage.
		proxy.SetDown(true)
		fp.down.Store(true)
		start := time.Now()
		ids := make([]string, 0, n)
		for i := range n {
			if time.Since(start) >= outage/2 {
				proxy.SetDown(false)
			}
			r := s.placeOrder(ann, fmt.Sprint("outage-", i), orderLine{p, 1})
			expect(t, r, 201)
			ids = append(ids, r.JSON(t)["id"].(string))
			if wait := time.Until(start.Add(outage * time.Duration(i+1) / n)); wait > 0 {
				time.Sleep(wait)
			}
		}
		proxy.SetDown(false)
		gdb := s.app.db.Gorm
		count := func(q string, args ...any) int64 {
			var c int64
			if err := gdb.Raw(q, args...).Scan(&c).Error; err != nil {
				t.Fatal(err)
			}
			return c
		}
		if paid := count("SELECT count(*) FROM orders WHERE status <> 'pending'"); paid != 0 {
			t.Fatalf("%d orders were no longer pending while the provider was down", paid)
		}
		if st := s.app.orders.Payments().State(); st == "closed" {
			t.Fatalf("breaker %s after a %v outage", st, outage)
		}

		fp.down.Store(false)
		took := testkit.Eventually(t, 30*time.Second, "every order paid after the provider came back", func() bool {
			return count("SELECT count(*) FROM orders WHERE status = 'paid'") == n
		}) // started as the provider came back: the recovery time
		fp.mu.Lock()
		refused, badKeys := fp.refused, fp.badKeys
		replays := 0
		for _, id := range ids {
			if fp.created[id] != 1 {
				t.Errorf("order %s: %d charges", id, fp.created[id])
			}
			replays += fp.answered[id] - 1
		}
		fp.mu.Unlock()
		t.Logf("%s: %d orders over a %v outage: last one paid %v after the provider's return (%d requests refused with 503 while down, %d idempotent replays)",
			kind, n, outage, took.Round(time.Millisecond), refused, replays)
		if took > 10*time.Second {
			t.Errorf("the backlog took %v to be paid, want within 10 s", took)
		}
		if badKeys != 0 {
			t.Errorf("%d charges without the order id as Idempotency-Key", badKeys)
		}
		dl := s.do("GET", "/v1/admin/dead-letters?limit=100", admin, nil)
		expect(t, dl, 200)
		if got := dl.JSON(t)["data"].([]any); len(got) != 0 {
			t.Errorf("%d dead letters after the outage: %v", len(got), got[0])
		}
		if c := count("SELECT count(*) FROM event_dead_letters"); c != 0 {
			t.Errorf("%d dead letters in the store", c)
		}
	})
}
