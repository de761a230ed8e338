// Command loadgen drives the product API with a realistic mix and reports
// throughput, latency percentiles (HdrHistogram), status counts, the 304
// share, and, from the instances' /metrics scraped before and after, cache
// hit ratios and database queries per request.
//
//	go run ./scripts/loadgen -target http://127.0.0.1:18080 -duration 60s -concurrency 64 \
//	    -mix reads=80,auth=10,checkout=10 -metrics http://127.0.0.1:18081,http://127.0.0.1:18082,http://127.0.0.1:18083
//
// Reads (80%) are single products (some with fieldsets), lists with
// fieldsets/filters/sorts, deep cursor walks (follow next_cursor 5 pages),
// and If-None-Match revalidations of ETags seen earlier (304 expected). Auth
// (10%) is login (60%), refresh rotation (30%; GET /v1/users/me when the
// build issues no refresh tokens) and registration (10%). Checkout (10%) is
// POST /v1/orders with an Idempotency-Key on an in-stock product.
//
// "errors" are transport failures and 5xx; 409 on checkout (sold out) is an
// expected business answer and counted apart; other 4xx are reported by status.
// -sample 30s prints RSS, goroutines and pool connections of every instance
// (the soak table). Exit status 1 when -max-errors is exceeded.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

type options struct {
	target      string
	duration    time.Duration
	concurrency int
	mix         map[string]int
	metrics     []string
	progress    time.Duration
	sample      time.Duration
	out         string
	maxErrors   int64
	adminEmail  string
	adminPass   string
	users       int
	label       string
}

func main() {
	o := options{}
	var mix, metrics string
	flag.StringVar(&o.target, "target", "http://127.0.0.1:18080", "base URL (the load balancer or one instance)")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long to run")
	flag.IntVar(&o.concurrency, "concurrency", 64, "concurrent clients (closed loop: each waits for its answer)")
	flag.StringVar(&mix, "mix", "reads=80,auth=10,checkout=10", "weights of the request classes")
	flag.StringVar(&metrics, "metrics", "", "comma list of instance base URLs whose /metrics to diff (default: -target)")
	flag.DurationVar(&o.progress, "progress", 5*time.Second, "progress line interval")
	flag.DurationVar(&o.sample, "sample", 0, "also sample RSS/goroutines/DB connections of each -metrics instance this often (soak)")
	flag.StringVar(&o.out, "out", "", "write the JSON summary to this file")
	flag.Int64Var(&o.maxErrors, "max-errors", -1, "exit 1 when errors exceed this (-1: never)")
	flag.StringVar(&o.adminEmail, "admin-email", "admin@cluster.local", "admin used to create products when the catalogue is small")
	flag.StringVar(&o.adminPass, "admin-password", "cluster-admin-password", "")
	flag.IntVar(&o.users, "users", 0, "customer accounts to register up front (default: = concurrency)")
	flag.StringVar(&o.label, "label", "", "name of this run in the summary")
	flag.Parse()
	var err error
	if o.mix, err = parseMix(mix); err != nil {
		fatal(err)
	}
	o.metrics = splitList(metrics)
	if len(o.metrics) == 0 {
		o.metrics = []string{o.target}
	}
	if o.users == 0 {
		o.users = o.concurrency
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, o)
	if err != nil {
		fatal(err)
	}
	fmt.Println(sum.markdown())
	if o.out != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.WriteFile(o.out, b, 0o644); err != nil {
			fatal(err)
		}
	}
	if o.maxErrors >= 0 && sum.Errors > o.maxErrors {
		fmt.Fprintf(os.Stderr, "loadgen: %d errors > max %d\n", sum.Errors, o.maxErrors)
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}

func parseMix(s string) (map[string]int, error) {
	m := map[string]int{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || n > 1_000_000 {
			return nil, fmt.Errorf("bad -mix entry %q (want name=weight, weight 0..1000000)", kv)
		}
		switch k {
		case "reads", "auth", "checkout":
		default:
			return nil, fmt.Errorf("unknown -mix class %q (reads, auth, checkout)", k)
		}
		m[k] = n
	}
	if m["reads"]+m["auth"]+m["checkout"] == 0 {
		return nil, fmt.Errorf("-mix weights are all zero")
	}
	return m, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.TrimRight(p, "/"))
		}
	}
	return out
}

// ---- recording ----

type recorder struct {
	mu       sync.Mutex
	all      *hdrhistogram.Histogram
	byOp     map[string]*hdrhistogram.Histogram
	byStatus map[string]int64 // "200", "304", "409", "error: ..."
	opStatus map[string]map[int]int64
	requests atomic.Int64
	errors   atomic.Int64
	n304     atomic.Int64
}

func newRecorder() *recorder {
	return &recorder{all: newHist(), byOp: map[string]*hdrhistogram.Histogram{}, byStatus: map[string]int64{},
		opStatus: map[string]map[int]int64{}}
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) } // microseconds, 1us..60s

// record one answer: status 0 = transport error.
func (r *recorder) record(op string, status int, d time.Duration, transportErr error, hdr http.Header) {
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	r.requests.Add(1)
	if status == 0 || status >= 500 {
		r.errors.Add(1)
	}
	if status == http.StatusNotModified {
		r.n304.Add(1)
	}
	key := strconv.Itoa(status)
	if status == http.StatusServiceUnavailable && hdr.Get("Retry-After") != "" {
		key = "503 shed (Retry-After)"
	}
	if status == 0 {
		key = "transport error"
		if transportErr != nil && strings.Contains(transportErr.Error(), "refused") {
			key = "transport error (connection refused)"
		}
	}
	r.mu.Lock()
	_ = r.all.RecordValue(us)
	h := r.byOp[op]
	if h == nil {
		h = newHist()
		r.byOp[op] = h
	}
	_ = h.RecordValue(us)
	r.byStatus[key]++
	if r.opStatus[op] == nil {
		r.opStatus[op] = map[int]int64{}
	}
	r.opStatus[op][status]++
	r.mu.Unlock()
}

// ---- the client side of the API ----

type client struct {
	base string
	http *http.Client
	rec  *recorder
}

type resp struct {
	status int
	body   []byte
	header http.Header
}

func (c *client) do(ctx context.Context, op, method, path string, body any, hdr map[string]string) (resp, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return resp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil { // the run ended mid-request: not the server's fault
			return resp{}, err
		}
		if c.rec != nil {
			c.rec.record(op, 0, time.Since(start), err, nil)
		}
		return resp{}, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if c.rec != nil {
		if err != nil && ctx.Err() == nil {
			c.rec.record(op, 0, time.Since(start), err, nil)
		} else if err == nil {
			c.rec.record(op, res.StatusCode, time.Since(start), nil, res.Header)
		}
	}
	return resp{res.StatusCode, b, res.Header}, err
}

type product struct {
	ID    string `json:"id"`
	Stock int64  `json:"stock"`
}

type page struct {
	Data       []product `json:"data"`
	NextCursor *string   `json:"next_cursor"`
}

type tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

type customer struct {
	mu       sync.Mutex
	email    string
	password string
	tok      tokens
}

// ---- setup ----

type world struct {
	products  []product // any product
	inStock   []string  // ids with stock to sell
	customers []*customer
	runID     string
}

func setup(ctx context.Context, c *client, o options) (*world, error) {
	w := &world{runID: strconv.FormatInt(time.Now().UnixNano()%1e10, 36)}
	collect := func() error {
		w.products, w.inStock = nil, nil
		path := "/v1/products?limit=100&fields=id,stock"
		for i := 0; i < 30 && path != ""; i++ {
			r, err := c.do(ctx, "setup", "GET", path, nil, nil)
			if err != nil {
				return err
			}
			if r.status != 200 {
				return fmt.Errorf("listing products: %d %s", r.status, r.body)
			}
			var p page
			if err := json.Unmarshal(r.body, &p); err != nil {
				return err
			}
			for _, pr := range p.Data {
				w.products = append(w.products, pr)
				if pr.Stock >= 20 {
					w.inStock = append(w.inStock, pr.ID)
				}
			}
			path = ""
			if p.NextCursor != nil {
				path = "/v1/products?limit=100&fields=id,stock&cursor=" + url.QueryEscape(*p.NextCursor)
			}
		}
		return nil
	}
	if err := collect(); err != nil {
		return nil, err
	}
	if len(w.inStock) < 50 {
		fmt.Fprintf(os.Stderr, "catalogue small (%d products): creating 200 as %s\n", len(w.products), o.adminEmail)
		r, err := c.do(ctx, "setup", "POST", "/v1/auth/login", map[string]string{"email": o.adminEmail, "password": o.adminPass}, nil)
		if err != nil || r.status != 200 {
			return nil, fmt.Errorf("admin login: %v %d %s", err, r.status, r.body)
		}
		var t tokens
		_ = json.Unmarshal(r.body, &t)
		cats := []string{"books", "garden", "kitchen", "toys"}
		for i := 0; i < 200; i++ {
			r, err := c.do(ctx, "setup", "POST", "/v1/products", map[string]any{
				"sku": fmt.Sprintf("LOAD-%s-%04d", w.runID, i), "name": fmt.Sprintf("Load product %d", i),
				"description": "created by loadgen", "price_cents": 100 + i, "currency": "EUR", "stock": 100000,
				"category": cats[i%len(cats)]}, map[string]string{"Authorization": "Bearer " + t.Access})
			if err != nil || r.status != 201 {
				return nil, fmt.Errorf("creating a product: %v %d %s", err, r.status, r.body)
			}
		}
		if err := collect(); err != nil {
			return nil, err
		}
	}
	// Customers, registered and logged in up front (in parallel).
	w.customers = make([]*customer, o.users)
	var wg sync.WaitGroup
	errc := make(chan error, o.users)
	sem := make(chan struct{}, 8)
	for i := range w.customers {
		cu := &customer{email: fmt.Sprintf("load-%s-%d@example.com", w.runID, i), password: "load-test-password-" + w.runID}
		w.customers[i] = cu
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := c.do(ctx, "setup", "POST", "/v1/auth/register", map[string]string{"email": cu.email, "password": cu.password, "name": "Load Tester"}, nil)
			if err != nil || r.status != 201 {
				errc <- fmt.Errorf("register: %v %d %s", err, r.status, r.body)
				return
			}
			if err := cu.login(ctx, c, "setup"); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	return w, nil
}

func (cu *customer) login(ctx context.Context, c *client, op string) error {
	r, err := c.do(ctx, op, "POST", "/v1/auth/login", map[string]string{"email": cu.email, "password": cu.password}, nil)
	if err != nil {
		return err
	}
	if r.status != 200 {
		return fmt.Errorf("login: %d %s", r.status, r.body)
	}
	var t tokens
	if err := json.Unmarshal(r.body, &t); err != nil {
		return err
	}
	cu.mu.Lock()
	cu.tok = t
	cu.mu.Unlock()
	return nil
}

func (cu *customer) access() string {
	cu.mu.Lock()
	defer cu.mu.Unlock()
	return cu.tok.Access
}

// ---- the mix ----

type worker struct {
	c     *client
	w     *world
	rnd   *rand.Rand
	etags map[string]string // path -> ETag seen
	paths []string
	id    int
	zipf  *rand.Zipf
}

var (
	listFieldsets = []string{"id,name,price_cents", "id,name", "id,name,price_cents,stock,category", ""}
	listSorts     = []string{"", "price_cents", "-price_cents", "name", "-created_at"}
	categories    = []string{"books", "electronics", "garden", "kitchen", "music", "outdoor", "toys", "clothing"}
)

// pick draws a product with a Zipf popularity (s=1.1): a few products get
// most of the views, the long tail is still visited, as in a real catalogue.
func (k *worker) pick() string { return k.w.products[k.zipf.Uint64()].ID }

func (k *worker) get(ctx context.Context, op, path string) resp {
	r, err := k.c.do(ctx, op, "GET", path, nil, nil)
	if err == nil && r.status == 200 {
		if et := r.header.Get("ETag"); et != "" {
			if _, seen := k.etags[path]; !seen && len(k.paths) < 500 {
				k.paths = append(k.paths, path)
			}
			k.etags[path] = et
		}
	}
	return r
}

func (k *worker) read(ctx context.Context) {
	switch n := k.rnd.IntN(100); {
	case n < 35: // single product, sometimes a fieldset
		path := "/v1/products/" + k.pick()
		if k.rnd.IntN(2) == 0 {
			path += "?fields=id,name,price_cents,stock"
		}
		k.get(ctx, "read_single", path)
	case n < 60: // a list page with a fieldset, filter and sort
		q := url.Values{}
		q.Set("limit", strconv.Itoa([]int{10, 20, 50}[k.rnd.IntN(3)]))
		if f := listFieldsets[k.rnd.IntN(len(listFieldsets))]; f != "" {
			q.Set("fields", f)
		}
		if s := listSorts[k.rnd.IntN(len(listSorts))]; s != "" {
			q.Set("sort", s)
		}
		if k.rnd.IntN(2) == 0 {
			q.Set("category", categories[k.rnd.IntN(len(categories))])
		}
		k.get(ctx, "read_list", "/v1/products?"+q.Encode())
	case n < 75: // deep cursor: follow next_cursor five pages
		cat := categories[k.rnd.IntN(len(categories))]
		path := "/v1/products?limit=20&fields=id,name&category=" + cat
		for i := 0; i < 5 && path != "" && ctx.Err() == nil; i++ {
			r := k.get(ctx, "read_cursor", path)
			path = ""
			var p page
			if r.status == 200 && json.Unmarshal(r.body, &p) == nil && p.NextCursor != nil {
				q := url.Values{"limit": {"20"}, "fields": {"id,name"}, "category": {cat}, "cursor": {*p.NextCursor}}
				path = "/v1/products?" + q.Encode()
			}
		}
	default: // conditional GET of something seen before: 304 when unchanged
		if len(k.paths) == 0 {
			k.get(ctx, "read_single", "/v1/products/"+k.pick())
			return
		}
		path := k.paths[k.rnd.IntN(len(k.paths))]
		r, err := k.c.do(ctx, "read_revalidate", "GET", path, nil, map[string]string{"If-None-Match": k.etags[path]})
		if err == nil && r.status == 200 {
			k.etags[path] = r.header.Get("ETag")
		}
	}
}

func (k *worker) auth(ctx context.Context) {
	cu := k.w.customers[k.rnd.IntN(len(k.w.customers))]
	switch n := k.rnd.IntN(10); {
	case n < 6:
		_ = cu.login(ctx, k.c, "auth_login")
	case n < 9: // refresh rotation: the new pair replaces the old one
		cu.mu.Lock()
		defer cu.mu.Unlock()
		if cu.tok.Refresh == "" { // no refresh tokens on this build: an authenticated read instead
			_, _ = k.c.do(ctx, "auth_me", "GET", "/v1/users/me", nil, map[string]string{"Authorization": "Bearer " + cu.tok.Access})
			return
		}
		r, err := k.c.do(ctx, "auth_refresh", "POST", "/v1/auth/refresh", map[string]string{"refresh_token": cu.tok.Refresh}, nil)
		if err == nil && r.status == 200 {
			var t tokens
			if json.Unmarshal(r.body, &t) == nil {
				cu.tok = t
			}
		}
	default:
		email := fmt.Sprintf("load-%s-w%d-%d@example.com", k.w.runID, k.id, k.rnd.Int64())
		_, _ = k.c.do(ctx, "auth_register", "POST", "/v1/auth/register", map[string]string{"email": email, "password": "load-test-password", "name": "New Customer"}, nil)
	}
}

func (k *worker) checkout(ctx context.Context) {
	if len(k.w.inStock) == 0 {
		return
	}
	cu := k.w.customers[k.rnd.IntN(len(k.w.customers))]
	body := map[string]any{"items": []map[string]any{{"product_id": k.w.inStock[k.rnd.IntN(len(k.w.inStock))], "quantity": 1}}}
	hdr := map[string]string{"Authorization": "Bearer " + cu.access(), "Idempotency-Key": fmt.Sprintf("%s-%d-%d", k.w.runID, k.id, k.rnd.Int64())}
	r, err := k.c.do(ctx, "checkout", "POST", "/v1/orders", body, hdr)
	if err == nil && r.status == http.StatusUnauthorized { // token expired (long soak): log in again
		_ = cu.login(ctx, k.c, "auth_login")
	}
}

// ---- the run ----

func run(ctx context.Context, o options) (*summary, error) {
	tr := &http.Transport{MaxIdleConns: o.concurrency * 2, MaxIdleConnsPerHost: o.concurrency * 2, IdleConnTimeout: 90 * time.Second,
		DisableCompression: false}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	setupC := &client{base: o.target, http: hc}
	w, err := setup(ctx, setupC, o)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	fmt.Fprintf(os.Stderr, "setup: %d products (%d in stock), %d customers; running %s at concurrency %d, mix %v\n",
		len(w.products), len(w.inStock), len(w.customers), o.duration, o.concurrency, o.mix)

	before := scrapeAll(o.metrics)
	rec := newRecorder()
	c := &client{base: o.target, http: hc, rec: rec}
	rctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	total := o.mix["reads"] + o.mix["auth"] + o.mix["checkout"]
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < o.concurrency; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			k := &worker{c: c, w: w, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))), etags: map[string]string{}, id: i}
			k.zipf = rand.NewZipf(k.rnd, 1.1, 1, uint64(len(w.products)-1))
			for rctx.Err() == nil {
				switch n := k.rnd.IntN(total); {
				case n < o.mix["reads"]:
					k.read(rctx)
				case n < o.mix["reads"]+o.mix["auth"]:
					k.auth(rctx)
				default:
					k.checkout(rctx)
				}
			}
		}(i)
	}
	var samples []sample
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(o.progress)
		defer t.Stop()
		var st <-chan time.Time
		if o.sample > 0 {
			s := time.NewTicker(o.sample)
			defer s.Stop()
			st = s.C
			samples = append(samples, takeSample(o.metrics, 0))
			printSample(samples[len(samples)-1])
		}
		var last int64
		lastT := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := rec.requests.Load()
				fmt.Fprintf(os.Stderr, "%5.0fs  %7.0f req/s  total %d  errors %d  304s %d\n", now.Sub(start).Seconds(),
					float64(n-last)/now.Sub(lastT).Seconds(), n, rec.errors.Load(), rec.n304.Load())
				last, lastT = n, now
			case now := <-st:
				samples = append(samples, takeSample(o.metrics, now.Sub(start)))
				printSample(samples[len(samples)-1])
			}
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	after := scrapeAll(o.metrics)
	if o.sample > 0 {
		samples = append(samples, takeSample(o.metrics, elapsed))
	}
	return summarize(o, rec, elapsed, before, after, samples), nil
}

// ---- summary ----

type latency struct {
	Count              int64
	P50, P95, P99, Max float64 // milliseconds
}

type summary struct {
	Label        string
	Target       string
	Concurrency  int
	Mix          map[string]int
	Seconds      float64
	Requests     int64
	RPS          float64
	Errors       int64
	ErrorRate    float64
	Share304     float64 // of all read requests
	Latency      latency
	ByOp         map[string]latency
	ByStatus     map[string]int64
	Server       serverStats
	Samples      []sample `json:",omitempty"`
	LoadAvg      string
	Instances    []string
	UnexpectedBy map[string]map[string]int64 `json:",omitempty"` // op -> status -> count, 4xx other than expected
	ErrorsByOp   map[string]map[string]int64 `json:",omitempty"` // op -> status ("0" = transport) -> count, errors only
}

func lat(h *hdrhistogram.Histogram) latency {
	ms := func(v int64) float64 { return float64(v) / 1000 }
	return latency{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P95: ms(h.ValueAtQuantile(95)),
		P99: ms(h.ValueAtQuantile(99)), Max: ms(h.Max())}
}

func summarize(o options, rec *recorder, elapsed time.Duration, before, after map[string]float64, samples []sample) *summary {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	s := &summary{Label: o.label, Target: o.target, Concurrency: o.concurrency, Mix: o.mix, Seconds: elapsed.Seconds(),
		Requests: rec.requests.Load(), Errors: rec.errors.Load(), Latency: lat(rec.all), ByOp: map[string]latency{},
		ByStatus: rec.byStatus, Samples: samples, LoadAvg: loadavg(), Instances: o.metrics, UnexpectedBy: map[string]map[string]int64{},
		ErrorsByOp: map[string]map[string]int64{}}
	s.RPS = float64(s.Requests) / s.Seconds
	if s.Requests > 0 {
		s.ErrorRate = float64(s.Errors) / float64(s.Requests)
	}
	var reads int64
	for op, h := range rec.byOp {
		s.ByOp[op] = lat(h)
		if strings.HasPrefix(op, "read") {
			reads += h.TotalCount()
		}
	}
	if reads > 0 {
		s.Share304 = float64(rec.n304.Load()) / float64(reads)
	}
	for op, m := range rec.opStatus {
		for st, n := range m {
			if st == 0 || st >= 500 {
				if s.ErrorsByOp[op] == nil {
					s.ErrorsByOp[op] = map[string]int64{}
				}
				s.ErrorsByOp[op][strconv.Itoa(st)] += n
			}
			expected := st < 400 || st >= 500 || (op == "checkout" && st == 409)
			if !expected {
				if s.UnexpectedBy[op] == nil {
					s.UnexpectedBy[op] = map[string]int64{}
				}
				s.UnexpectedBy[op][strconv.Itoa(st)] += n
			}
		}
	}
	s.Server = serverDelta(before, after, s.Requests)
	return s
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func (s *summary) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s\n\n", orDefault(s.Label, "loadgen "+s.Target))
	fmt.Fprintf(&b, "target %s, concurrency %d, mix %v, %.0f s, load average at the end %s\n\n", s.Target, s.Concurrency, s.Mix, s.Seconds, s.LoadAvg)
	fmt.Fprintf(&b, "| requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors (5xx+transport) | error rate | 304 share of reads |\n|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %.0f | %.2f | %.2f | %.2f | %.1f | %d | %.4f%% | %.1f%% |\n\n", s.Requests, s.RPS, s.Latency.P50, s.Latency.P95,
		s.Latency.P99, s.Latency.Max, s.Errors, 100*s.ErrorRate, 100*s.Share304)
	fmt.Fprintf(&b, "| operation | count | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|\n")
	ops := make([]string, 0, len(s.ByOp))
	for op := range s.ByOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		l := s.ByOp[op]
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f |\n", op, l.Count, l.P50, l.P95, l.P99)
	}
	keys := make([]string, 0, len(s.ByStatus))
	for k := range s.ByStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("\nstatus counts:")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, s.ByStatus[k])
	}
	if len(s.ErrorsByOp) > 0 {
		fmt.Fprintf(&b, "\nerrors by operation (status 0 = transport): %v", s.ErrorsByOp)
	}
	if len(s.UnexpectedBy) > 0 {
		fmt.Fprintf(&b, "\nunexpected 4xx by operation: %v", s.UnexpectedBy)
	}
	sv := s.Server
	fmt.Fprintf(&b, "\n\nserver side (sum of %d instance(s), /metrics before/after): L1 hit ratio %.1f%%, L2 hit ratio %.1f%% (of L1 misses), "+
		"DB queries %.0f = %.2f per client request, server requests %.0f; app CPU %.1f s = %.2f cores, %.2f ms per request\n",
		len(s.Instances), 100*sv.L1HitRatio, 100*sv.L2HitRatio, sv.DBQueries, sv.DBQueriesPerRequest, sv.ServerRequests,
		sv.CPUSeconds, sv.CPUSeconds/s.Seconds, sv.CPUMsPerRequest)
	if len(s.Samples) > 0 {
		b.WriteString("\n| t (s) | instance | RSS MiB | goroutines | DB conns open (pool) | in use |\n|---|---|---|---|---|---|\n")
		for _, sm := range s.Samples {
			for _, in := range sm.Instances {
				fmt.Fprintf(&b, "| %.0f | %s | %.1f | %.0f | %.0f | %.0f |\n", sm.T, in.Instance, in.RSSMiB, in.Goroutines, in.DBOpen, in.DBInUse)
			}
		}
	}
	return b.String()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
