package app

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/replicatest"
)

// agedToken re-signs token as if issued an hour ago, so the read routing
// does not treat its caller as a fresh session (which reads the primary
// anyway) and only the write marks are under test.
func agedToken(t *testing.T, cfg config.Config, token string) string {
	t.Helper()
	// Keep every claim and the key ID of the real token; only its age changes.
	var claims jwt.MapClaims
	orig, _, err := jwt.NewParser().ParseUnverified(token, &claims)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims["iat"], claims["nbf"], claims["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Hour).Unix(), now.Add(10*time.Minute).Unix()
	aged := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	aged.Header["kid"] = orig.Header["kid"]
	signed, err := aged.SignedString([]byte(cfg.Auth.SigningKey))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// metricAbove reports whether a /metrics line starting with prefix has a
// value above min.
func (s *testServer) metricAbove(prefix string, min float64) bool {
	for _, line := range strings.Split(string(s.do("GET", "/metrics", "", nil).Body), "\n") {
		if strings.HasPrefix(line, prefix) {
			var v float64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(line, prefix)), &v); err == nil && v > min {
				return true
			}
		}
	}
	return false
}

// TestReadYourWritesWithLaggingReplica runs the service against the real
// streaming replica, pauses its replay (a replica lagging within
// replica_max_lag, so still in rotation) and checks that a writer reads its
// own writes, and that nobody gets the old value back from the cache.
func TestReadYourWritesWithLaggingReplica(t *testing.T) {
	pair := replicatest.Fresh(t, "papi_ryw")
	cfg := testConfig(t, postgresStore)
	cfg.Database.URL = pair.Primary
	cfg.Database.ReplicaURLs = []string{pair.Replica}
	cfg.Database.ReplicaMaxLag = time.Minute // the paused replica stays in rotation
	cfg.Database.ReplicaCheckInterval = 50 * time.Millisecond
	cfg.Database.ReadYourWritesWindow = 30 * time.Second
	s := startServer(t, cfg)
	replicaTarget := fmt.Sprintf(`db_reads_routed_total{target=%q}`, pair.HostPort())

	admin := agedToken(t, cfg, s.adminToken())
	_, ctoken := s.register(fmt.Sprintf("ryw-%d@example.com", time.Now().UnixNano()))
	customer := agedToken(t, cfg, ctoken)
	p := s.createProduct(admin, map[string]any{"price_cents": 1000, "stock": 10, "category": "ryw"})
	id := p["id"].(string)
	pair.WaitReplayed(t)
	testkit.Eventually(t, 20*time.Second, "replica in rotation", func() bool { return s.app.db.Replicas.Usable() == 1 })
	// Anonymous reads are served by the replica (lists vary by limit, so
	// each is a cache miss that reaches the database).
	for i := 1; !s.metricAbove(replicaTarget, 0); i++ {
		expect(t, s.do("GET", fmt.Sprintf("/v1/products?category=ryw&limit=%d", i), "", nil), 200)
		if i > 200 {
			t.Fatal("no read was routed to the replica")
		}
		time.Sleep(10 * time.Millisecond)
	}
	expect(t, s.do("GET", "/readyz", "", nil), 200)

	pair.PauseReplay(t)
	expect(t, s.do("PATCH", "/v1/products/"+id, admin, map[string]any{"price_cents": 2000}), 200)
	order := s.placeOrder(customer, "ryw-1", orderLine{ProductID: id, Quantity: 1})
	expect(t, order, 201)
	orderID := order.JSON(t)["id"].(string)

	// The replica really is behind: without the rules below these reads
	// would return the old price and no order.
	var price, orders int64
	pair.OnReplica(t, fmt.Sprintf("SELECT price_cents FROM products WHERE id = '%s'", id), &price)
	pair.OnReplica(t, fmt.Sprintf("SELECT count(*) FROM orders WHERE id = '%s'", orderID), &orders)
	if price != 1000 || orders != 0 {
		t.Fatalf("replica already has the writes (price %d, orders %d): the test proves nothing", price, orders)
	}

	// The writers read their own writes (primary, by the write mark).
	if got := s.do("GET", "/v1/products/"+id, admin, nil); got.Status != 200 || got.JSON(t)["price_cents"].(float64) != 2000 {
		t.Fatalf("writer read %d %s after its PATCH", got.Status, got.Body)
	}
	expect(t, s.do("GET", "/v1/orders/"+orderID, customer, nil), 200)

	// Anyone else: the entity and the list were invalidated by the write,
	// and their cache fills refuse a replica that has not replayed up to
	// the invalidation, so the old price is neither served nor cached.
	for range 2 {
		if got := s.do("GET", "/v1/products/"+id, "", nil); got.JSON(t)["price_cents"].(float64) != 2000 {
			t.Fatalf("anonymous read after the PATCH: %s", got.Body)
		}
		list := s.do("GET", "/v1/products?category=ryw&fields=id,price_cents", "", nil)
		expect(t, list, 200)
		if !strings.Contains(string(list.Body), `"price_cents":2000`) {
			t.Fatalf("list after the PATCH: %s", list.Body)
		}
	}

	pair.ResumeReplay(t)
	pair.WaitReplayed(t)
	if got := s.do("GET", "/v1/products?category=ryw&fields=id,price_cents&limit=7", "", nil); !strings.Contains(string(got.Body), `"price_cents":2000`) {
		t.Fatalf("list after the replica caught up: %s", got.Body)
	}
}

// TestBehindPgBouncer runs the service through PgBouncer in transaction
// mode (DATABASE_PGBOUNCER=true; migrations straight to Postgres) and
// drives the main flow concurrently: no prepared-statement clashes, no
// errors.
func TestBehindPgBouncer(t *testing.T) {
	bouncer := replicatest.RequirePgBouncer(t)
	cfg := testConfig(t, postgresStore)
	direct := cfg.Database.URL
	du, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	bu, err := url.Parse(bouncer)
	if err != nil {
		t.Fatal(err)
	}
	bu.Path = du.Path
	cfg.Database.URL = bu.String()
	cfg.Database.MigrateURL = direct
	cfg.Database.PgBouncer = true
	s := startServer(t, cfg)
	admin := s.adminToken()

	const workers = 8
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				call := func(want int, method, path, token string, body any, headers ...string) (response, error) {
					r, err := s.rawDo(method, path, token, body, headers...)
					if err == nil && r.Status != want {
						err = fmt.Errorf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
					}
					return r, err
				}
				email := fmt.Sprintf("pgb-%d-%d@example.com", w, time.Now().UnixNano())
				if _, err := call(201, "POST", "/v1/auth/register", "", map[string]string{"email": email, "password": "customer-pass-1", "name": "B"}); err != nil {
					return err
				}
				lr, err := call(200, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "customer-pass-1"})
				if err != nil {
					return err
				}
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				if err := json.Unmarshal(lr.Body, &tok); err != nil {
					return err
				}
				for i := range 2 {
					pr, err := call(201, "POST", "/v1/products", admin, map[string]any{"sku": fmt.Sprintf("PGB-%d-%d-%d", w, i, time.Now().UnixNano()),
						"name": "Bounced", "price_cents": 500, "currency": "EUR", "stock": 5, "category": "pgb"})
					if err != nil {
						return err
					}
					var prod struct {
						ID string `json:"id"`
					}
					if err := json.Unmarshal(pr.Body, &prod); err != nil {
						return err
					}
					if _, err := call(200, "GET", fmt.Sprintf("/v1/products?category=pgb&limit=%d", 1+i+w), "", nil); err != nil {
						return err
					}
					if _, err := call(200, "GET", "/v1/products/"+prod.ID, tok.AccessToken, nil); err != nil {
						return err
					}
					if _, err := call(201, "POST", "/v1/orders", tok.AccessToken, orderBody(orderLine{ProductID: prod.ID, Quantity: 1}),
						"Idempotency-Key", fmt.Sprintf("pgb-%d-%d", w, i)); err != nil {
						return err
					}
					if _, err := call(200, "GET", "/v1/orders?include=items", tok.AccessToken, nil); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if logs := s.log.String(); strings.Contains(logs, "prepared statement") {
		t.Fatalf("prepared-statement errors behind PgBouncer: %s", logs)
	}
	expect(t, s.do("GET", "/readyz", "", nil), 200)
}
