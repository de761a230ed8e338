package app

import (
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/netproxy"

	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/ordersimpl"
	"example.com/productapi/platform/config"
)

// ---- helpers ---------------------------------------------------------------

type orderLine struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

func orderBody(lines ...orderLine) map[string]any { return map[string]any{"items": lines} }

// placeOrder posts an order with an Idempotency-Key.
func (s *testServer) placeOrder(token, key string, lines ...orderLine) response {
	s.t.Helper()
	return s.do("POST", "/v1/orders", token, orderBody(lines...), "Idempotency-Key", key)
}

func (s *testServer) stockOf(id string) int64 {
	s.t.Helper()
	r := s.do("GET", "/v1/products/"+id, "", nil)
	expect(s.t, r, 200)
	return int64(r.JSON(s.t)["stock"].(float64))
}

func (s *testServer) order(token, id string) map[string]any {
	s.t.Helper()
	r := s.do("GET", "/v1/orders/"+id+"?include=items", token, nil)
	expect(s.t, r, 200)
	return r.JSON(s.t)
}

// waitStatus polls an order until it has status want.
func (s *testServer) waitStatus(token, id, want string, within time.Duration) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		o := s.order(token, id)
		if o["status"] == want {
			return o
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("order %s is %v after %v, want %s", id, o["status"], within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fastPayments (an Option) makes the payment driver's timing test-sized.
func fastPayments(a *App) {
	a.ordersTiming = ordersimpl.Timing{
		ReconcileEvery: 50 * time.Millisecond, ReconcileAfter: time.Millisecond,
		RetryBase: 30 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		PaymentLease: 2 * time.Second, CallTimeout: 150 * time.Millisecond, BreakerCooldown: 150 * time.Millisecond,
	}
}

// fakeProvider is an idempotent payment provider with scripted behaviour.
// Modes: ok (201 succeeded), decline (402), fail (503), slow (records the
// charge, then answers after the client's timeout), hold (503 until the
// order's mode changes).
type fakeProvider struct {
	srv *httptest.Server

	mu       sync.Mutex
	mode     string              // default mode
	perOrder map[string]string   // mode per order ID
	script   map[string][]string // consumed first, per order
	results  map[string]int      // order -> stored status (201 / 402)
	created  map[string]int      // successful charges created per order
	calls    map[string]int
	badKeys  int
}

func newFakeProvider(t *testing.T, mode string) *fakeProvider {
	f := &fakeProvider{mode: mode, perOrder: map[string]string{}, script: map[string][]string{},
		results: map[string]int{}, created: map[string]int{}, calls: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	var c struct {
		OrderID     string `json:"order_id"`
		AmountCents int64  `json:"amount_cents"`
		Currency    string `json:"currency"`
	}
	if r.Method != "POST" || r.URL.Path != "/v1/charges" || json.NewDecoder(r.Body).Decode(&c) != nil || c.AmountCents <= 0 || c.Currency == "" {
		w.WriteHeader(400)
		return
	}
	f.mu.Lock()
	f.calls[c.OrderID]++
	if r.Header.Get("Idempotency-Key") != c.OrderID {
		f.badKeys++
	}
	if st, ok := f.results[c.OrderID]; ok { // idempotent replay
		f.mu.Unlock()
		writeCharge(w, st, c.OrderID)
		return
	}
	mode := f.mode
	if m, ok := f.perOrder[c.OrderID]; ok {
		mode = m
	}
	if s := f.script[c.OrderID]; len(s) > 0 {
		mode, f.script[c.OrderID] = s[0], s[1:]
	}
	switch mode {
	case "ok", "slow":
		f.results[c.OrderID] = 201
		f.created[c.OrderID]++
	case "decline":
		f.results[c.OrderID] = 402
	}
	status := f.results[c.OrderID] // read under the lock: charges arrive concurrently
	f.mu.Unlock()
	switch mode {
	case "ok", "decline":
		writeCharge(w, status, c.OrderID)
	case "slow":
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return
		}
		writeCharge(w, 201, c.OrderID)
	default:
		w.WriteHeader(503)
	}
}

func writeCharge(w http.ResponseWriter, status int, orderID string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == 201 {
		fmt.Fprintf(w, `{"id":"ch_%s","status":"succeeded"}`, orderID)
	} else {
		fmt.Fprint(w, `{"status":"failed","message":"card declined"}`)
	}
}

func (f *fakeProvider) set(orderID, mode string) {
	f.mu.Lock()
	f.perOrder[orderID] = mode
	f.mu.Unlock()
}

func (f *fakeProvider) createdFor(orderID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created[orderID]
}

// serverWithProvider starts an instance that pays through baseURL ("":
// the built-in simulated provider).
func serverWithProvider(t *testing.T, kind storeKind, baseURL string, opts ...Option) *testServer {
	t.Helper()
	cfg := testConfig(t, kind)
	cfg.Payment = config.Payment{ProviderURL: baseURL}
	return startServer(t, cfg, opts...)
}

// ---- checkout --------------------------------------------------------------

// N concurrent orders against stock S never sell more than S, on both stores,
// through HTTP.
func TestCheckoutNeverOversells(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := serverWithProvider(t, kind, "")
		admin := s.adminToken()
		hot := s.createProduct(admin, map[string]any{"stock": 5, "price_cents": 700, "sku": "HOT-1"})["id"].(string)
		var toks []string
		for i := 0; i < 2; i++ {
			_, tok := s.register(fmt.Sprintf("buyer%d@example.com", i))
			toks = append(toks, tok)
		}
		const n = 40
		statuses := make([]int, n)
		bodies := make([]string, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.rawDo("POST", "/v1/orders", toks[i%len(toks)], orderBody(orderLine{hot, 1}),
					"Idempotency-Key", fmt.Sprintf("k-%d", i))
				if err != nil {
					t.Error(err)
					return
				}
				statuses[i], bodies[i] = r.Status, string(r.Body)
			}()
		}
		wg.Wait()
		created, conflicts := 0, 0
		for i, st := range statuses {
			switch st {
			case 201:
				created++
			case 409:
				conflicts++
				if !strings.Contains(bodies[i], "HOT-1") || !strings.Contains(bodies[i], "insufficient_stock") {
					t.Errorf("409 does not name the product: %s", bodies[i])
				}
			default:
				t.Errorf("status %d: %s", st, bodies[i])
			}
		}
		if created != 5 || conflicts != n-5 {
			t.Fatalf("created %d, 409 %d; want 5 and %d", created, conflicts, n-5)
		}
		if st := s.stockOf(hot); st != 0 {
			t.Fatalf("stock = %d, want 0", st)
		}
		list := s.do("GET", "/v1/orders?limit=100", admin, nil)
		expect(t, list, 200)
		if got := len(list.JSON(t)["data"].([]any)); got != 5 {
			t.Fatalf("admin sees %d orders, want 5", got)
		}
		// Prices come from the catalogue; the order is paid by the built-in
		// simulated provider.
		var one map[string]any
		for i, st := range statuses {
			if st == 201 {
				_ = json.Unmarshal([]byte(bodies[i]), &one)
				break
			}
		}
		if one["total_cents"] != float64(700) || one["currency"] != "EUR" || one["status"] != "pending" {
			t.Fatalf("created order: %v", one)
		}
		s.waitStatus(admin, one["id"].(string), "paid", 10*time.Second)
	})
}

func TestCheckoutValidation(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := serverWithProvider(t, kind, "")
		admin := s.adminToken()
		_, tok := s.register("val@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 10})["id"].(string)
		q := s.createProduct(admin, map[string]any{"stock": 10, "currency": "USD"})["id"].(string)

		r := s.do("POST", "/v1/orders", tok, orderBody(orderLine{p, 1}))
		expect(t, r, 400)
		if !strings.Contains(r.JSON(t)["type"].(string), "orders.idempotency_key_required") {
			t.Fatalf("missing key: %s", r.Body)
		}
		expect(t, s.do("POST", "/v1/orders", tok, orderBody(orderLine{p, 1}), "Idempotency-Key", strings.Repeat("k", 256)), 400)
		expect(t, s.do("POST", "/v1/orders", "", orderBody(orderLine{p, 1}), "Idempotency-Key", "a"), 401)
		expect(t, s.do("POST", "/v1/orders", tok, `{"items":[{"product_id":"`+p+`","quantity":1}],"total_cents":1}`, "Idempotency-Key", "a"), 400)

		many := make([]orderLine, 51)
		for i := range many {
			many[i] = orderLine{p, 1}
		}
		for name, lines := range map[string][]orderLine{
			"no items": {}, "51 items": many, "quantity 0": {{p, 0}}, "quantity 1001": {{p, 1001}},
			"duplicate product": {{p, 1}, {p, 2}}, "malformed product id": {{"nope", 1}},
			"unknown product": {{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 1}}, "mixed currency": {{p, 1}, {q, 1}},
		} {
			r := s.placeOrder(tok, "v-"+strings.ReplaceAll(name, " ", "-"), lines...)
			if r.Status != 422 {
				t.Errorf("%s: status %d: %s", name, r.Status, r.Body)
			}
			checkProblem(t, r)
		}
		if s.stockOf(p) != 10 || s.stockOf(q) != 10 {
			t.Fatal("a rejected order took stock")
		}
	})
}

// ---- idempotency -----------------------------------------------------------

func TestIdempotencyKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := serverWithProvider(t, kind, "")
		admin := s.adminToken()
		_, ann := s.register("ann@example.com")
		_, bob := s.register("bob@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 100, "price_cents": 1000})["id"].(string)
		p2 := s.createProduct(admin, map[string]any{"stock": 100, "price_cents": 10})["id"].(string)

		first := s.placeOrder(ann, "key-1", orderLine{p, 2}, orderLine{p2, 1})
		expect(t, first, 201)
		// Same body (other formatting and line order) -> the same answer.
		raw := `{ "items": [ {"quantity": 1, "product_id": "` + p2 + `"}, {"product_id": "` + p + `", "quantity": 2} ] }`
		again := s.do("POST", "/v1/orders", ann, raw, "Idempotency-Key", "key-1")
		expect(t, again, 201)
		if !bytes.Equal(again.Body, first.Body) || again.Header.Get("Idempotent-Replayed") != "true" ||
			again.Header.Get("Location") != first.Header.Get("Location") {
			t.Fatalf("replay differs:\n%s\n%s", first.Body, again.Body)
		}
		// Same key, other body -> 422.
		other := s.placeOrder(ann, "key-1", orderLine{p, 3})
		expect(t, other, 422)
		if !strings.Contains(string(other.Body), `"field":"Idempotency-Key"`) {
			t.Fatalf("reuse: %s", other.Body)
		}
		// Keys are per user.
		expect(t, s.placeOrder(bob, "key-1", orderLine{p, 1}), 201)
		if st := s.stockOf(p); st != 97 {
			t.Fatalf("stock %d, want 97", st)
		}

		// Concurrent duplicates: one order, every caller gets its response.
		const n = 12
		var wg sync.WaitGroup
		res := make([]response, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.rawDo("POST", "/v1/orders", ann, orderBody(orderLine{p, 1}), "Idempotency-Key", "burst")
				if err != nil {
					t.Error(err)
				}
				res[i] = r
			}()
		}
		wg.Wait()
		for i, r := range res {
			if r.Status != 201 || !bytes.Equal(r.Body, res[0].Body) {
				t.Fatalf("duplicate %d: %d %s (first %s)", i, r.Status, r.Body, res[0].Body)
			}
		}
		if st := s.stockOf(p); st != 96 {
			t.Fatalf("stock %d after a burst of duplicates, want 96", st)
		}
		mine := s.do("GET", "/v1/orders?limit=100", ann, nil).JSON(t)["data"].([]any)
		if len(mine) != 2 {
			t.Fatalf("ann has %d orders, want 2", len(mine))
		}

		// A failed checkout stores nothing: the same key can be retried.
		expect(t, s.placeOrder(ann, "retry-me", orderLine{p, 1000}), 409) // not enough stock
		expect(t, s.placeOrder(ann, "retry-me", orderLine{p, 1}), 201)

		// Keys expire: once the janitor has purged it, the key starts a new
		// order (an instance whose keys live 1s, swept every 100ms).
		ex := serverWithProvider(t, kind, "", func(a *App) {
			a.ordersTiming = ordersimpl.Timing{IdempotencyTTL: time.Second, JanitorEvery: 100 * time.Millisecond}
		})
		_, cat := ex.register("cat@example.com")
		ep := ex.createProduct(ex.adminToken(), map[string]any{"stock": 100})["id"].(string)
		placed := ex.placeOrder(cat, "key-1", orderLine{ep, 1})
		expect(t, placed, 201)
		testkit.Eventually(t, 10*time.Second, "the expired key starts a new order", func() bool {
			again := ex.placeOrder(cat, "key-1", orderLine{ep, 1})
			expect(t, again, 201)
			return again.Header.Get("Idempotent-Replayed") == "" && again.JSON(t)["id"] != placed.JSON(t)["id"]
		})
	})
}

// ---- reads -----------------------------------------------------------------

func TestOrdersReadPath(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := serverWithProvider(t, kind, "")
		admin := s.adminToken()
		annID, ann := s.register("ann@example.com")
		bobID, bob := s.register("bob@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 1000, "price_cents": 100, "sku": "READ-1", "name": "Reader"})["id"].(string)
		p2 := s.createProduct(admin, map[string]any{"stock": 1000, "price_cents": 5, "sku": "READ-2"})["id"].(string)
		var annOrders []string
		for i := 1; i <= 7; i++ {
			r := s.placeOrder(ann, fmt.Sprint("a", i), orderLine{p, int64(i)}, orderLine{p2, 1})
			expect(t, r, 201)
			annOrders = append(annOrders, r.JSON(t)["id"].(string))
		}
		bobOrder := s.placeOrder(bob, "b1", orderLine{p, 1}).JSON(t)["id"].(string)

		// Other people's orders and malformed IDs are 404 (never 403).
		expect(t, s.do("GET", "/v1/orders/"+bobOrder, ann, nil), 404)
		expect(t, s.do("POST", "/v1/orders/"+bobOrder+"/cancel", ann, nil), 404)
		expect(t, s.do("GET", "/v1/orders/not-an-id", ann, nil), 404)
		expect(t, s.do("GET", "/v1/orders/"+bobOrder, admin, nil), 200)
		expect(t, s.do("GET", "/v1/orders", "", nil), 401)

		// Single order: private caching, ETag, 304, fieldsets with nested fields.
		one := s.do("GET", "/v1/orders/"+annOrders[0], ann, nil)
		expect(t, one, 200)
		if cc := one.Header.Get("Cache-Control"); cc != "private, no-cache" || !strings.Contains(strings.Join(one.Header.Values("Vary"), ","), "Authorization") {
			t.Fatalf("caching headers: %q %v", cc, one.Header.Values("Vary"))
		}
		if _, has := one.JSON(t)["items"]; has {
			t.Fatal("items embedded without include")
		}
		// The simulated provider may pay the order between the two reads,
		// which rightly changes its ETag: revalidate what was just read.
		testkit.Eventually(t, 10*time.Second, "the order's ETag answers 304 once its payment settles", func() bool {
			o := s.do("GET", "/v1/orders/"+annOrders[0], ann, nil)
			return s.do("GET", "/v1/orders/"+annOrders[0], ann, nil, "If-None-Match", o.Header.Get("ETag")).Status == 304
		})
		sparse := s.do("GET", "/v1/orders/"+annOrders[0]+"?fields=id,items.sku&include=items", ann, nil)
		expect(t, sparse, 200)
		var sp struct {
			Items []map[string]any `json:"items"`
		}
		_ = json.Unmarshal(sparse.Body, &sp)
		if m := sparse.JSON(t); len(m) != 2 || len(sp.Items) != 2 || len(sp.Items[0]) != 1 || sp.Items[0]["sku"] == nil {
			t.Fatalf("sparse: %s", sparse.Body)
		}
		if sparse.Header.Get("ETag") == one.Header.Get("ETag") {
			t.Fatal("sparse and full representations share an ETag")
		}
		full := s.order(ann, annOrders[2])
		items := full["items"].([]any)
		first := items[0].(map[string]any)
		if full["total_cents"] != float64(3*100+5) || len(items) != 2 || first["name"] == nil || first["unit_price_cents"] == nil {
			t.Fatalf("order with items: %v", full)
		}
		for _, q := range []string{"fields=nope", "fields=items.sku", "include=payments", "sort=status", "status=lost", "limit=101"} {
			expect(t, s.do("GET", "/v1/orders?"+q, ann, nil), 400)
		}

		// Lists: own orders only; a customer's user_id filter narrows, never widens.
		if n := len(s.do("GET", "/v1/orders?limit=100", ann, nil).JSON(t)["data"].([]any)); n != 7 {
			t.Fatalf("ann lists %d orders", n)
		}
		if d := s.do("GET", "/v1/orders?user_id="+bobID, ann, nil).JSON(t)["data"].([]any); len(d) != 0 {
			t.Fatalf("customer saw another user's orders: %v", d)
		}
		if d := s.do("GET", "/v1/orders?user_id="+annID, ann, nil).JSON(t)["data"].([]any); len(d) != 7 {
			t.Fatalf("user_id=self: %d", len(d))
		}
		if d := s.do("GET", "/v1/orders?user_id="+bobID, admin, nil).JSON(t)["data"].([]any); len(d) != 1 {
			t.Fatalf("admin user_id filter: %v", d)
		}

		// (That include=items costs one query per page is checked in
		// modules/orders/internal/httpapi, where no background work shares
		// the connection pool's callbacks.)
		// Cursor walk, both sorts, with items and nested fields.
		for _, sort := range []string{"-created_at", "created_at", "total_cents", "-total_cents"} {
			seen := map[string]bool{}
			path := "/v1/orders?limit=3&include=items&fields=id,total_cents,items.quantity&sort=" + sort
			pages, last := 0, float64(-1)
			for path != "" {
				r := s.do("GET", path, ann, nil)
				expect(t, r, 200)
				pages++
				var env struct {
					Data []struct {
						ID    string           `json:"id"`
						Total float64          `json:"total_cents"`
						Items []map[string]any `json:"items"`
					} `json:"data"`
					Next *string `json:"next_cursor"`
				}
				_ = json.Unmarshal(r.Body, &env)
				for _, o := range env.Data {
					if seen[o.ID] {
						t.Fatalf("%s: %s seen twice", sort, o.ID)
					}
					seen[o.ID] = true
					if len(o.Items) != 2 || len(o.Items[0]) != 1 {
						t.Fatalf("%s: items %v", sort, o.Items)
					}
					if sort == "total_cents" && o.Total < last {
						t.Fatalf("not sorted by total")
					}
					last = o.Total
				}
				path = ""
				if env.Next != nil {
					link := r.Header.Get("Link")
					if !strings.Contains(link, `rel="next"`) {
						t.Fatalf("no Link header: %q", link)
					}
					path = "/v1/orders?limit=3&include=items&fields=id,total_cents,items.quantity&sort=" + url.QueryEscape(sort) + "&cursor=" + *env.Next
				}
			}
			if len(seen) != 7 || pages != 3 {
				t.Fatalf("%s: %d orders over %d pages", sort, len(seen), pages)
			}
		}
		// A cursor is bound to its sort and filters.
		page := s.do("GET", "/v1/orders?limit=2", ann, nil).JSON(t)
		cur := page["next_cursor"].(string)
		expect(t, s.do("GET", "/v1/orders?limit=2&sort=total_cents&cursor="+cur, ann, nil), 400)
		expect(t, s.do("GET", "/v1/orders?limit=2&status=paid&cursor="+cur, ann, nil), 400)
		expect(t, s.do("GET", "/v1/orders?limit=2&cursor=x"+cur[1:], ann, nil), 400)
		// List ETag. The simulated provider pays orders in the background,
		// which rightly changes the list: compare once it has settled.
		testkit.Eventually(t, 10*time.Second, "the list ETag answers 304 once payments settle", func() bool {
			l := s.do("GET", "/v1/orders?limit=2", ann, nil)
			return s.do("GET", "/v1/orders?limit=2", ann, nil, "If-None-Match", l.Header.Get("ETag")).Status == 304
		})
	})
}

// ---- state machine ---------------------------------------------------------

// Every transition through HTTP, against a provider we control: "hold"
// keeps orders pending until the test decides.
func TestOrdersStateMachine(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		fp := newFakeProvider(t, "hold")
		s := serverWithProvider(t, kind, fp.srv.URL, fastPayments)
		admin := s.adminToken()
		_, ann := s.register("ann@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 100, "price_cents": 250})["id"].(string)
		place := func(key string, qty int64) string {
			t.Helper()
			r := s.placeOrder(ann, key, orderLine{p, qty})
			expect(t, r, 201)
			return r.JSON(t)["id"].(string)
		}
		// The reconciler (test-sized) pays a pending order once its mode is
		// not "hold"; callers wait for the outcome they expect.
		pay := fp.set

		// pending -> cancelled (owner): stock back; anything after: 409.
		o1 := place("o1", 10)
		if s.stockOf(p) != 90 {
			t.Fatal("stock not reserved")
		}
		got := s.do("GET", "/v1/orders/"+o1, ann, nil)
		expect(t, s.do("POST", "/v1/orders/"+o1+"/cancel", ann, nil, "If-Match", `"7"`), 412)
		c := s.do("POST", "/v1/orders/"+o1+"/cancel", ann, nil, "If-Match", got.Header.Get("ETag"))
		expect(t, c, 200)
		if c.JSON(t)["status"] != "cancelled" || s.stockOf(p) != 100 {
			t.Fatalf("cancel: %s stock %d", c.Body, s.stockOf(p))
		}
		expect(t, s.do("POST", "/v1/orders/"+o1+"/cancel", ann, nil), 409)
		expect(t, s.do("POST", "/v1/orders/"+o1+"/ship", admin, nil), 409)
		if s.stockOf(p) != 100 {
			t.Fatal("stock released twice")
		}
		pay(o1, "ok") // no longer pending: no charge at all (checked below)

		// pending -> paid -> shipped; customers cannot ship; shipped is final.
		o2 := place("o2", 1)
		expect(t, s.do("POST", "/v1/orders/"+o2+"/ship", admin, nil), 409) // not paid yet
		pay(o2, "ok")
		s.waitStatus(ann, o2, "paid", 5*time.Second)
		if fp.createdFor(o1) != 0 { // the sweeps that paid o2 passed o1 by
			t.Fatal("a cancelled order was charged")
		}
		expect(t, s.do("POST", "/v1/orders/"+o2+"/ship", ann, nil), 403)
		expect(t, s.do("POST", "/v1/orders/"+o2+"/ship", admin, nil), 200)
		expect(t, s.do("POST", "/v1/orders/"+o2+"/cancel", admin, nil), 409)
		if s.stockOf(p) != 99 {
			t.Fatalf("stock %d after a shipped order", s.stockOf(p))
		}

		// pending -> payment_failed: stock back, final.
		o3 := place("o3", 5)
		pay(o3, "decline")
		s.waitStatus(ann, o3, "payment_failed", 5*time.Second)
		expect(t, s.do("POST", "/v1/orders/"+o3+"/cancel", ann, nil), 409)
		if s.stockOf(p) != 99 {
			t.Fatalf("stock %d after a declined payment", s.stockOf(p))
		}

		// paid -> cancelled (admin): stock back.
		o4 := place("o4", 3)
		pay(o4, "ok")
		s.waitStatus(ann, o4, "paid", 5*time.Second)
		expect(t, s.do("POST", "/v1/orders/"+o4+"/cancel", admin, nil), 200)
		if s.stockOf(p) != 99 {
			t.Fatalf("stock %d after cancelling a paid order", s.stockOf(p))
		}

		// Races: cancel vs ship on paid orders, and a pile of cancels:
		// exactly one wins, stock comes back at most once.
		for round := 0; round < 3; round++ {
			o := place(fmt.Sprint("race-", round), 4)
			pay(o, "ok")
			s.waitStatus(ann, o, "paid", 5*time.Second)
			before := s.stockOf(p)
			var wg sync.WaitGroup
			var cancels, ships, conflicts atomic.Int32
			for i := 0; i < 6; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					path, tok := "/cancel", ann
					if i%2 == 1 {
						path, tok = "/ship", admin
					}
					r, err := s.rawDo("POST", "/v1/orders/"+o+path, tok, nil)
					switch {
					case err != nil:
						t.Error(err)
					case r.Status == 200 && path == "/cancel":
						cancels.Add(1)
					case r.Status == 200:
						ships.Add(1)
					case r.Status == 409:
						conflicts.Add(1)
					default:
						t.Errorf("status %d: %s", r.Status, r.Body)
					}
				}()
			}
			wg.Wait()
			if cancels.Load()+ships.Load() != 1 || conflicts.Load() != 5 {
				t.Fatalf("round %d: %d cancels, %d ships, %d conflicts", round, cancels.Load(), ships.Load(), conflicts.Load())
			}
			want := before
			if cancels.Load() == 1 {
				want += 4
			}
			if got := s.stockOf(p); got != want {
				t.Fatalf("round %d: stock %d, want %d", round, got, want)
			}
		}

		// Cancel racing the payment of a pending order: one of them wins.
		o5 := place("o5", 2)
		before := s.stockOf(p)
		pay(o5, "ok") // the reconciler's next sweep races the cancel
		time.Sleep(40 * time.Millisecond)
		if _, err := s.rawDo("POST", "/v1/orders/"+o5+"/cancel", ann, nil); err != nil {
			t.Fatal(err)
		}
		final := s.order(ann, o5)["status"]
		switch final {
		case "paid":
			if s.stockOf(p) != before {
				t.Fatal("paid order lost its stock")
			}
		case "cancelled":
			if s.stockOf(p) != before+2 {
				t.Fatal("cancelled order's stock not restored exactly once")
			}
		default:
			t.Fatalf("status %v after cancel vs pay", final)
		}
	})
}

// ---- payments --------------------------------------------------------------

// A provider that fails, then times out (after taking the money), then
// answers: every order ends paid with exactly one charge, no operator
// needed; a decline ends payment_failed with the stock back.
func TestPaymentFlakyProviderRecovers(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		fp := newFakeProvider(t, "ok")
		s := serverWithProvider(t, kind, fp.srv.URL, fastPayments)
		admin := s.adminToken()
		_, ann := s.register("ann@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 50, "price_cents": 999})["id"].(string)
		// Scripts are keyed by order ID, which we only learn from the
		// response; hold every order first, then script it.
		fp.mu.Lock()
		fp.mode = "hold"
		fp.mu.Unlock()
		var ids []string
		for i := 0; i < 4; i++ {
			r := s.placeOrder(ann, fmt.Sprint("flaky-", i), orderLine{p, 1})
			expect(t, r, 201)
			ids = append(ids, r.JSON(t)["id"].(string))
		}
		declined := ids[3]
		fp.mu.Lock()
		for _, id := range ids[:3] {
			fp.script[id] = []string{"fail", "slow"} // then the replay of the slow charge
			fp.perOrder[id] = "fail"
		}
		fp.perOrder[declined] = "decline"
		fp.mode = "ok"
		fp.mu.Unlock()
		for _, id := range ids[:3] {
			s.waitStatus(ann, id, "paid", 20*time.Second)
			if n := fp.createdFor(id); n != 1 {
				t.Fatalf("order %s has %d successful charges", id, n)
			}
		}
		s.waitStatus(ann, declined, "payment_failed", 20*time.Second)
		if st := s.stockOf(p); st != 47 {
			t.Fatalf("stock %d, want 47", st)
		}
		fp.mu.Lock()
		bad := fp.badKeys
		fp.mu.Unlock()
		if bad != 0 {
			t.Fatalf("%d charges without the order ID as Idempotency-Key", bad)
		}
		m := s.do("GET", "/metrics", "", nil)
		for _, want := range []string{`payments_total{outcome="succeeded"}`, `payments_total{outcome="transient"}`,
			`payments_total{outcome="declined"} 1`, "payment_breaker_state", "orders_placed_total 4"} {
			if !strings.Contains(string(m.Body), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// The provider is really down (connections refused): orders are still
// accepted and stay pending, the breaker opens; once it is back they are
// paid without operator action.
func TestPaymentProviderDownThenBack(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		// The provider sits behind a proxy that refuses connections while
		// it is "down" and forwards once it is back (same address).
		fp := newFakeProvider(t, "ok")
		provider := netproxy.Start(t, fp.srv.Listener.Addr().String())
		provider.SetDown(true)
		s := serverWithProvider(t, kind, "http://"+provider.Addr(), fastPayments)
		admin := s.adminToken()
		_, ann := s.register("ann@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 50})["id"].(string)
		var ids []string
		for i := 0; i < 8; i++ {
			r := s.placeOrder(ann, fmt.Sprint("down-", i), orderLine{p, 1})
			expect(t, r, 201)
			ids = append(ids, r.JSON(t)["id"].(string))
		}
		testkit.Eventually(t, 10*time.Second, "the breaker to open while the provider is down", func() bool {
			return s.app.orders.Payments().State() == "open"
		})
		for _, id := range ids {
			if st := s.order(ann, id)["status"]; st != "pending" {
				t.Fatalf("order %s is %v while the provider is down", id, st)
			}
		}
		// With a 150 ms cooldown the breaker cycles open -> half-open (one
		// probe) -> open while the provider stays down, so one scrape may land
		// on the half-open probe; the open state must show within a few.
		testkit.Eventually(t, 10*time.Second, "metrics to show the open breaker while the provider is down", func() bool {
			return strings.Contains(string(s.do("GET", "/metrics", "", nil).Body), "payment_breaker_state 2")
		})
		if ready := s.do("GET", "/readyz", "", nil); ready.Status != 200 || !strings.Contains(string(ready.Body), `"payment_provider":"degraded"`) {
			t.Errorf("readyz while the provider is down: %d %s (want ready, degraded)", ready.Status, ready.Body)
		}

		// The provider comes back on the same address.
		provider.SetDown(false)
		for _, id := range ids {
			s.waitStatus(ann, id, "paid", 20*time.Second)
			if n := fp.createdFor(id); n != 1 {
				t.Fatalf("order %s charged %d times", id, n)
			}
		}
		if st := s.app.orders.Payments().State(); st != "closed" {
			t.Fatalf("breaker %s after recovery", st)
		}
	})
}

// ---- read model ------------------------------------------------------------

func TestSalesReportRebuild(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		fp := newFakeProvider(t, "ok")
		s := serverWithProvider(t, kind, fp.srv.URL, fastPayments)
		admin := s.adminToken()
		_, ann := s.register("ann@example.com")
		a := s.createProduct(admin, map[string]any{"stock": 100, "price_cents": 1000, "sku": "SALE-A"})["id"].(string)
		b := s.createProduct(admin, map[string]any{"stock": 100, "price_cents": 300, "sku": "SALE-B"})["id"].(string)
		var placed []string
		for i, lines := range [][]orderLine{{{a, 2}}, {{a, 1}, {b, 4}}, {{b, 1}}, {{a, 5}}, {{b, 2}}} {
			r := s.placeOrder(ann, fmt.Sprint("s", i), lines...)
			expect(t, r, 201)
			placed = append(placed, r.JSON(t)["id"].(string))
		}
		fp.set(placed[4], "decline") // may already be paid; see below
		for _, id := range placed {
			testkit.Eventually(t, 10*time.Second, "order "+id+" to leave pending", func() bool {
				return s.order(ann, id)["status"] != "pending"
			})
		}
		// A paid order cancelled later is taken back out.
		expect(t, s.do("POST", "/v1/orders/"+placed[3]+"/cancel", admin, nil), 200)
		wantA, wantB := map[string]float64{"units_sold": 3, "revenue_cents": 3000, "paid_orders": 2}, map[string]float64{"units_sold": 5, "revenue_cents": 1500, "paid_orders": 2}
		if s.order(ann, placed[4])["status"] == "paid" {
			wantB = map[string]float64{"units_sold": 7, "revenue_cents": 2100, "paid_orders": 3}
		}
		report := func() map[string]map[string]any {
			r := s.do("GET", "/v1/admin/reports/product-sales", admin, nil)
			expect(t, r, 200)
			out := map[string]map[string]any{}
			for _, row := range r.JSON(t)["data"].([]any) {
				m := row.(map[string]any)
				out[m["product_id"].(string)] = m
			}
			return out
		}
		matches := func(rep map[string]map[string]any) bool {
			for id, want := range map[string]map[string]float64{a: wantA, b: wantB} {
				for k, v := range want {
					if rep[id] == nil || rep[id][k] != v {
						return false
					}
				}
			}
			return len(rep) == 2
		}
		// The totals alone cannot tell "done" from "paid3 and cancelled3 not
		// applied yet" (they cancel out), so first wait until the view has
		// handled every paid/cancelled event and has no delivery pending
		// (Redeliver's included).
		gdb := s.app.db.Gorm
		caughtUp := func() bool {
			var events, handled, pending int64
			gdb.Raw("SELECT count(*) FROM event_outbox WHERE type IN ?", []string{orders.EventOrderPaid, orders.EventOrderCancelled}).Scan(&events)
			gdb.Raw("SELECT count(*) FROM event_inbox WHERE consumer = ?", "orders-sales-view").Scan(&handled)
			gdb.Raw("SELECT count(*) FROM event_deliveries WHERE consumer = ?", "orders-sales-view").Scan(&pending)
			return events > 0 && handled == events && pending == 0
		}
		waitReport := func(what string) map[string]map[string]any {
			testkit.Eventually(t, 15*time.Second, what+": sales view caught up", caughtUp)
			deadline := time.Now().Add(15 * time.Second)
			for {
				rep := report()
				if matches(rep) {
					return rep
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: report %v, want A %v B %v", what, rep, wantA, wantB)
				}
				time.Sleep(30 * time.Millisecond)
			}
		}
		incremental := waitReport("incremental")
		if incremental[a]["sku"] != "SALE-A" || incremental[a]["currency"] != "EUR" {
			t.Fatalf("row: %v", incremental[a])
		}
		expect(t, s.do("GET", "/v1/admin/reports/product-sales", ann, nil), 403)
		expect(t, s.do("POST", "/v1/admin/reports/product-sales/rebuild", ann, nil), 403)
		expect(t, s.do("POST", "/v1/admin/reports/product-sales/rebuild", admin, nil), 202)
		rebuilt := waitReport("rebuilt")
		for _, id := range []string{a, b} {
			for _, k := range []string{"units_sold", "revenue_cents", "paid_orders", "sku", "name"} {
				if rebuilt[id][k] != incremental[id][k] {
					t.Fatalf("%s %s: rebuilt %v, incremental %v", id, k, rebuilt[id][k], incremental[id][k])
				}
			}
		}
		// Sorted, paged with cursors.
		first := s.do("GET", "/v1/admin/reports/product-sales?limit=1&sort=-units_sold&fields=product_id,units_sold", admin, nil)
		expect(t, first, 200)
		env := first.JSON(t)
		if d := env["data"].([]any); len(d) != 1 || d[0].(map[string]any)["product_id"] != b || len(d[0].(map[string]any)) != 2 {
			t.Fatalf("first page: %s", first.Body)
		}
		second := s.do("GET", "/v1/admin/reports/product-sales?limit=1&sort=-units_sold&cursor="+env["next_cursor"].(string), admin, nil)
		expect(t, second, 200)
		if d := second.JSON(t)["data"].([]any); len(d) != 1 || d[0].(map[string]any)["product_id"] != a {
			t.Fatalf("second page: %s", second.Body)
		}
	})
}

// ---- event contract ----------------------------------------------------------

// The payloads the service really writes to the outbox validate against the
// JSON Schemas documented in docs/events/, for every orders event type.
func TestOrdersEventPayloadsMatchSchemas(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		fp := newFakeProvider(t, "hold")
		s := serverWithProvider(t, kind, fp.srv.URL, fastPayments)
		admin := s.adminToken()
		_, ann := s.register("ann@example.com")
		p := s.createProduct(admin, map[string]any{"stock": 20})["id"].(string)
		place := func(key string) string {
			r := s.placeOrder(ann, key, orderLine{p, 1})
			expect(t, r, 201)
			return r.JSON(t)["id"].(string)
		}
		pay := fp.set // the test-sized reconciler pays once the mode is not "hold"
		shipped, paidCancelled, declined, cancelled := place("e1"), place("e2"), place("e3"), place("e4")
		pay(shipped, "ok")
		pay(paidCancelled, "ok")
		pay(declined, "decline")
		s.waitStatus(ann, shipped, "paid", 5*time.Second)
		s.waitStatus(ann, paidCancelled, "paid", 5*time.Second)
		s.waitStatus(ann, declined, "payment_failed", 10*time.Second)
		expect(t, s.do("POST", "/v1/orders/"+shipped+"/ship", admin, nil), 200)
		expect(t, s.do("POST", "/v1/orders/"+paidCancelled+"/cancel", admin, nil), 200)
		expect(t, s.do("POST", "/v1/orders/"+cancelled+"/cancel", ann, nil), 200)

		c := jsonschema.NewCompiler()
		var rows []struct {
			Type    string
			Payload string
		}
		if err := s.app.db.Gorm.Raw("SELECT type, payload FROM event_outbox WHERE type LIKE 'orders.%' ORDER BY seq").Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, r := range rows {
			sch, err := c.Compile(filepath.Join("docs", "events", r.Type+".schema.json"))
			if err != nil {
				t.Fatalf("schema for %s: %v", r.Type, err)
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(r.Payload))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("%s payload %s does not match its schema: %v", r.Type, r.Payload, err)
			}
			seen[r.Type]++
		}
		want := map[string]int{"orders.order_placed.v1": 4, "orders.order_paid.v1": 2, "orders.order_payment_failed.v1": 1,
			"orders.order_cancelled.v1": 2, "orders.order_shipped.v1": 1}
		for typ, n := range want {
			if seen[typ] != n {
				t.Errorf("%s: %d events, want %d (all: %v)", typ, seen[typ], n, seen)
			}
		}
		// And a payload missing a required field is refused (the schemas bite).
		sch, _ := c.Compile(filepath.Join("docs", "events", "orders.order_shipped.v1.schema.json"))
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"order_id":"x"}`))
		if sch.Validate(inst) == nil {
			t.Error("an invalid payload validated")
		}
	})
}
