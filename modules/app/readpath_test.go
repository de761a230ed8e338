package app

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// seedProducts creates n products through the API and returns their IDs.
func seedProducts(t *testing.T, s *testServer, admin string, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	cats := []string{"books", "garden", "toys"}
	for i := 0; i < n; i++ {
		p := s.createProduct(admin, map[string]any{
			"sku": fmt.Sprintf("RP-%04d", i), "name": fmt.Sprintf("Item %c%03d", 'a'+i%26, i),
			"price_cents": 100 * (i % 7), // many ties: the ID must break them
			"stock":       i % 3, "category": cats[i%3],
		})
		ids = append(ids, p["id"].(string))
	}
	return ids
}

type page struct {
	Data       []map[string]any `json:"data"`
	NextCursor *string          `json:"next_cursor"`
}

func (s *testServer) page(t *testing.T, path string) (page, response) {
	t.Helper()
	r := s.do("GET", path, "", nil)
	expect(t, r, 200)
	var p page
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	return p, r
}

// walk follows next_cursor to the end and returns every item.
func (s *testServer) walk(t *testing.T, query string, between func(pageNo int)) []map[string]any {
	t.Helper()
	var all []map[string]any
	path := "/v1/products?" + query
	for i := 0; i < 1000; i++ {
		p, r := s.page(t, path)
		all = append(all, p.Data...)
		if p.NextCursor == nil {
			if r.Header.Get("Link") != "" {
				t.Fatal("Link header on the last page")
			}
			return all
		}
		if !strings.Contains(r.Header.Get("Link"), `rel="next"`) {
			t.Fatalf("no Link rel=next: %v", r.Header)
		}
		if between != nil {
			between(i)
		}
		v, _ := url.ParseQuery(query)
		v.Set("cursor", *p.NextCursor)
		path = "/v1/products?" + v.Encode()
	}
	t.Fatal("walk did not end")
	return nil
}

func TestCursorWalksEverySortExactlyOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		ids := seedProducts(t, s, admin, 45)
		for _, sortBy := range []string{"created_at", "-created_at", "price_cents", "-price_cents", "name", "-name"} {
			t.Run(sortBy, func(t *testing.T) {
				items := s.walk(t, "limit=7&sort="+sortBy, nil)
				seen := map[string]bool{}
				for _, it := range items {
					id := it["id"].(string)
					if seen[id] {
						t.Fatalf("%s returned twice", id)
					}
					seen[id] = true
				}
				if len(seen) != len(ids) {
					t.Fatalf("walk saw %d of %d", len(seen), len(ids))
				}
				field := strings.TrimPrefix(sortBy, "-")
				ordered := sort.SliceIsSorted(items, func(i, j int) bool {
					a, b := fmt.Sprint(items[i][field]), fmt.Sprint(items[j][field])
					if field == "price_cents" {
						x, y := items[i][field].(float64), items[j][field].(float64)
						if x != y {
							return (x < y) != strings.HasPrefix(sortBy, "-")
						}
					} else if a != b {
						return (a < b) != strings.HasPrefix(sortBy, "-")
					}
					return (items[i]["id"].(string) < items[j]["id"].(string)) != strings.HasPrefix(sortBy, "-")
				})
				if !ordered {
					t.Fatalf("items not in %s order", sortBy)
				}
			})
		}
	})
}

// Rows inserted and updated between pages never cause a duplicate or a
// skip of a row that existed when the walk started.
func TestCursorWalkWithConcurrentWrites(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		before := seedProducts(t, s, admin, 30)
		n := 0
		items := s.walk(t, "limit=4", func(pageNo int) {
			n++
			s.createProduct(admin, map[string]any{"sku": fmt.Sprintf("NEW-%d", n)})
			// Update an existing row (not its sort key) between pages.
			expect(t, s.do("PATCH", "/v1/products/"+before[pageNo%len(before)], admin, map[string]any{"stock": 99}), 200)
		})
		seen := map[string]int{}
		for _, it := range items {
			seen[it["id"].(string)]++
		}
		for id, c := range seen {
			if c > 1 {
				t.Fatalf("%s returned %d times", id, c)
			}
		}
		for _, id := range before {
			if seen[id] == 0 {
				t.Fatalf("pre-existing %s skipped", id)
			}
		}
	})
}

func TestFiltersFieldsAndCursorBinding(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		seedProducts(t, s, admin, 21)

		p, _ := s.page(t, "/v1/products?category=garden&min_price_cents=200&max_price_cents=500&in_stock=true&limit=100")
		if len(p.Data) == 0 {
			t.Fatal("filter matched nothing")
		}
		for _, it := range p.Data {
			price := it["price_cents"].(float64)
			if it["category"] != "garden" || price < 200 || price > 500 || it["stock"].(float64) <= 0 {
				t.Fatalf("filter let through %v", it)
			}
		}
		q, _ := s.page(t, "/v1/products?q=ITEM%20B&limit=100")
		for _, it := range q.Data {
			if !strings.Contains(strings.ToLower(it["name"].(string)), "item b") {
				t.Fatalf("q let through %v", it["name"])
			}
		}
		if len(q.Data) == 0 {
			t.Fatal("q is case-insensitive and should match")
		}
		// q treats LIKE wildcards literally.
		if w, _ := s.page(t, "/v1/products?q=%25"); len(w.Data) != 0 {
			t.Fatalf("%% matched %d rows", len(w.Data))
		}

		sparse, _ := s.page(t, "/v1/products?fields=name,price_cents&limit=3")
		for _, it := range sparse.Data {
			if len(it) != 2 || it["name"] == nil || it["price_cents"] == nil {
				t.Fatalf("sparse item %v", it)
			}
		}
		one := s.do("GET", "/v1/products?limit=1&fields=id", "", nil).JSON(t)["data"].([]any)[0].(map[string]any)
		single := s.do("GET", "/v1/products/"+one["id"].(string)+"?fields=sku", "", nil)
		expect(t, single, 200)
		if m := single.JSON(t); len(m) != 1 || m["sku"] == nil {
			t.Fatalf("sparse single %s", single.Body)
		}
		full := s.do("GET", "/v1/products/"+one["id"].(string), "", nil)
		if single.Header.Get("ETag") == full.Header.Get("ETag") {
			t.Fatal("sparse and full representations share an ETag")
		}

		for _, bad := range []string{"fields=name,secret", "sort=stock", "sort=-password", "limit=0", "limit=101", "limit=x",
			"in_stock=maybe", "min_price_cents=cheap", "colour=red", "include=items", "min_price_cents=500&max_price_cents=100", "limit=1&limit=2"} {
			r := s.do("GET", "/v1/products?"+bad, "", nil)
			expect(t, r, 400)
		}
		expect(t, s.do("GET", "/v1/products/"+one["id"].(string)+"?fields=bogus", "", nil), 400)

		// Cursors are tamper-evident and bound to their sort and filters.
		first, _ := s.page(t, "/v1/products?limit=5&category=books")
		cur := *first.NextCursor
		expect(t, s.do("GET", "/v1/products?limit=5&category=books&cursor="+url.QueryEscape(cur), "", nil), 200)
		expect(t, s.do("GET", "/v1/products?limit=5&category=garden&cursor="+url.QueryEscape(cur), "", nil), 400)
		expect(t, s.do("GET", "/v1/products?limit=5&category=books&sort=name&cursor="+url.QueryEscape(cur), "", nil), 400)
		tampered := []byte(cur)
		tampered[len(tampered)/2] ^= 1
		if string(tampered) == cur {
			t.Fatal("tamper did nothing")
		}
		expect(t, s.do("GET", "/v1/products?limit=5&category=books&cursor="+url.QueryEscape(string(tampered)), "", nil), 400)
		expect(t, s.do("GET", "/v1/products?limit=5&category=books&cursor=garbage", "", nil), 400)
		// A different page size is fine with the same cursor.
		expect(t, s.do("GET", "/v1/products?limit=2&category=books&cursor="+url.QueryEscape(cur), "", nil), 200)
	})
}

func TestListETagsAndInvalidation(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		ids := seedProducts(t, s, admin, 5)
		_, r := s.page(t, "/v1/products")
		etag := r.Header.Get("ETag")
		if etag == "" || !strings.HasPrefix(r.Header.Get("Cache-Control"), "public") {
			t.Fatalf("list caching headers: %v", r.Header)
		}
		nm := s.do("GET", "/v1/products", "", nil, "If-None-Match", etag)
		if nm.Status != 304 || len(nm.Body) != 0 {
			t.Fatalf("If-None-Match: %d %q", nm.Status, nm.Body)
		}
		expect(t, s.do("PATCH", "/v1/products/"+ids[0], admin, map[string]any{"name": "Renamed"}), 200)
		after := s.do("GET", "/v1/products", "", nil, "If-None-Match", etag)
		expect(t, after, 200)
		if !strings.Contains(string(after.Body), "Renamed") {
			t.Fatal("list served stale data after a write")
		}
	})
}

// Two instances share Postgres and Redis: a write on one is visible on the
// other (its L1 copy dropped through Redis pub/sub).
func TestTwoInstancesInvalidateEachOther(t *testing.T) {
	requirePostgres(t)
	if os.Getenv("TEST_REDIS_URL") == "" {
		t.Fatal("needs TEST_REDIS_URL next to TEST_DATABASE_URL") // never a silent skip
	}
	cfg := testConfig(t, postgresStore)
	cfg.Cache.InvalidationAckTimeout = 5 * time.Second // a loaded CI machine must not turn a slow ack into a flake
	a, b := startServer(t, cfg), startServer(t, cfg)
	admin := a.adminToken()
	id := a.createProduct(admin, map[string]any{"name": "Before"})["id"].(string)
	// Warm both L1s.
	for _, s := range []*testServer{a, b} {
		if got := s.do("GET", "/v1/products/"+id, "", nil).JSON(t)["name"]; got != "Before" {
			t.Fatalf("warm: %v", got)
		}
	}
	listBefore := b.do("GET", "/v1/products", "", nil)
	expect(t, a.do("PATCH", "/v1/products/"+id, admin, map[string]any{"name": "After"}), 200)
	// No polling: once the write is acknowledged B must already serve it.
	if got := b.do("GET", "/v1/products/"+id, "", nil).JSON(t)["name"]; got != "After" {
		t.Fatalf("instance B served %v right after the write was acknowledged", got)
	}
	if list := b.do("GET", "/v1/products", "", nil); string(list.Body) == string(listBefore.Body) {
		t.Fatalf("instance B served the old list right after the write: %s", list.Body)
	}
}

// With Redis unreachable every read still succeeds (L2 skipped).
func TestReadsSurviveDeadRedis(t *testing.T) {
	cfg := testConfig(t, sqliteStore)
	cfg.Redis.URL = "redis://127.0.0.1:1/0" // nothing listens there
	s := startServer(t, cfg)
	admin := s.adminToken()
	ids := seedProducts(t, s, admin, 3)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := s.do("GET", "/v1/products/"+ids[i%3], "", nil)
			if r.Status != 200 {
				t.Errorf("read failed with Redis down: %d %s", r.Status, r.Body)
			}
		}(i)
	}
	wg.Wait()
	expect(t, s.do("GET", "/v1/products?limit=2", "", nil), 200)
	ready := s.do("GET", "/readyz", "", nil)
	if ready.Status != 200 || ready.JSON(t)["status"] != "degraded" {
		t.Fatalf("readyz with Redis down: %d %s", ready.Status, ready.Body)
	}
}

// The users list gets the same read path: fieldsets, every sort in both
// directions, filters, bound cursors, private list ETags.
func TestUsersListReadPath(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		s := newServer(t, kind)
		admin := s.adminToken()
		want := map[string]bool{adminEmail: true}
		for i := 0; i < 7; i++ {
			email := fmt.Sprintf("user%02d@example.com", i)
			s.register(email)
			want[email] = true
		}
		for _, sort := range []string{"email", "-email", "created_at", "-created_at"} {
			seen := map[string]bool{}
			var prev string
			path := "/v1/users?limit=3&fields=email&sort=" + sort
			for path != "" {
				r := s.do("GET", path, admin, nil)
				expect(t, r, 200)
				var p page
				if err := json.Unmarshal(r.Body, &p); err != nil {
					t.Fatal(err)
				}
				for _, u := range p.Data {
					if len(u) != 1 || u["email"] == nil {
						t.Fatalf("fields=email returned %v", u)
					}
					email := u["email"].(string)
					if seen[email] {
						t.Fatalf("sort %s: %s twice", sort, email)
					}
					seen[email] = true
					if sort == "email" && prev != "" && email < prev || sort == "-email" && prev != "" && email > prev {
						t.Fatalf("sort %s out of order: %s after %s", sort, email, prev)
					}
					prev = email
				}
				path = ""
				if p.NextCursor != nil {
					path = "/v1/users?limit=3&fields=email&sort=" + sort + "&cursor=" + url.QueryEscape(*p.NextCursor)
				}
			}
			if len(seen) != len(want) {
				t.Fatalf("sort %s: walked %d users, want %d", sort, len(seen), len(want))
			}
		}

		admins := s.do("GET", "/v1/users?role=admin", admin, nil)
		expect(t, admins, 200)
		if data := admins.JSON(t)["data"].([]any); len(data) != 1 || data[0].(map[string]any)["email"] != adminEmail {
			t.Fatalf("role=admin filter: %s", admins.Body)
		}
		first := s.do("GET", "/v1/users?limit=2&sort=email", admin, nil)
		cursor := first.JSON(t)["next_cursor"].(string)
		expect(t, s.do("GET", "/v1/users?limit=2&sort=-email&cursor="+url.QueryEscape(cursor), admin, nil), 400)
		expect(t, s.do("GET", "/v1/users?limit=2&sort=email&role=admin&cursor="+url.QueryEscape(cursor), admin, nil), 400)
		expect(t, s.do("GET", "/v1/users?limit=2&sort=email&cursor=x"+url.QueryEscape(cursor), admin, nil), 400)
		expect(t, s.do("GET", "/v1/users?fields=password_hash", admin, nil), 400)
		expect(t, s.do("GET", "/v1/users?sort=password_hash", admin, nil), 400)

		if cc := first.Header.Get("Cache-Control"); !strings.Contains(cc, "private") {
			t.Fatalf("users list Cache-Control %q", cc)
		}
		expect(t, s.do("GET", "/v1/users?limit=2&sort=email", admin, nil, "If-None-Match", first.Header.Get("ETag")), 304)
		s.register("zz-late@example.com")
		expect(t, s.do("GET", "/v1/users?limit=2&sort=-email", admin, nil, "If-None-Match", first.Header.Get("ETag")), 200)
	})
}
