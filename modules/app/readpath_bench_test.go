package app

// Read-path benchmarks (issue 3). They compare the service's hottest routes
// with a bare Gin engine serving the same bytes, so what matters is the
// RATIO printed side by side, never an absolute number (the machines are
// shared and noisy; nothing here asserts a time). They run only with
// -bench, on the embedded SQLite store, without any service:
//
//	go test -run '^$' -bench . -benchmem .
//
// ratio (cached GET)  = ns/op BareGinHandler            / ns/op GetProductCached
// ratio (304)         = ns/op BareGinHandlerNotModified / ns/op GetProductNotModified
// depth cost          = ns/op ListDeepPage              / ns/op ListFirstPage (about 1 with keyset paging)
//
// scripts/bench.sh measures the same pairs over real sockets with wrk on
// Postgres + Redis and writes docs/benchmarks.md. The platform benchmarks
// (cursor codec, projection in platform/query; L1/L2 hits in
// platform/cache) are not repeated here.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/observability"
	"example.com/productapi/platform/server"
)

// benchInstance is one wired application on a fresh SQLite file, with the
// production handler (router + every middleware + the gzip wrapper).
type benchInstance struct {
	app     *App
	handler http.Handler
}

// newBenchInstance builds an instance with the production defaults from
// configs/config.yaml. The logger is the production one (text, level info,
// so the access log line of every request is formatted) writing to
// io.Discard: the benchmark counts formatting, not the terminal.
// BENCH_LOG_LEVEL=warn shows what the access log costs.
func newBenchInstance(b *testing.B, opts ...Option) *benchInstance {
	b.Helper()
	env := map[string]string{
		"DATA_DIR":         b.TempDir(),
		"AUTH_SIGNING_KEY": "bench-signing-key-0123456789abcdef0123456789",
		"LOG_LEVEL":        cmp.Or(os.Getenv("BENCH_LOG_LEVEL"), "info"),
		"CACHE_NAMESPACE":  fmt.Sprintf("bench%d", time.Now().UnixNano()),
	}
	cfg, err := config.Load(filepath.Join("configs", "config.yaml"), func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	// Rate limiting stays on (its middleware and headers are part of every
	// /v1 response, so the benchmark must pay for them) but with the test
	// suite's generous quotas: with the production 600/min a benchmark
	// looping on one product is answered 429 after 600 iterations.
	cfg.RateLimit.Groups = generousRateLimits
	log := observability.NewLogger(cfg.Log, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	app, err := New(ctx, cfg, log, opts...)
	if err != nil {
		cancel()
		b.Fatalf("New: %v", err)
	}
	app.ready.Store(true)
	b.Cleanup(func() {
		cancel()
		app.Close()
	})
	return &benchInstance{app: app, handler: server.New(cfg.HTTP, app.router, log).Handler}
}

// seed inserts n demo products through the module's batched seed path.
func (bi *benchInstance) seed(b *testing.B, n int) {
	b.Helper()
	if err := bi.app.products.Seeder().Seed(context.Background(), n, 1000, func(int) {}); err != nil {
		b.Fatalf("seed: %v", err)
	}
}

// benchServe runs one request through h and checks the status.
func benchServe(b *testing.B, h http.Handler, req *http.Request, want int) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL, rec.Code, want, rec.Body.Bytes())
	}
	return rec
}

// cachedProduct seeds one product, warms L1 with a GET and returns the
// request and the response the service gave (body and headers).
func cachedProduct(b *testing.B, opts ...Option) (*benchInstance, *http.Request, *httptest.ResponseRecorder) {
	b.Helper()
	bi := newBenchInstance(b, opts...)
	bi.seed(b, 1)
	var id string
	if err := bi.app.db.Gorm.Raw("SELECT id FROM products LIMIT 1").Scan(&id).Error; err != nil || id == "" {
		b.Fatalf("seeded product id: %q %v", id, err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/products/"+id, nil)
	benchServe(b, bi.handler, req, http.StatusOK) // load from the store into L1
	warm := benchServe(b, bi.handler, req, http.StatusOK)
	if warm.Header().Get("ETag") == "" || warm.Body.Len() == 0 {
		b.Fatalf("warm response lacks ETag or body: %v", warm.Header())
	}
	return bi, req, warm
}

func BenchmarkGetProductCached(b *testing.B) {
	bi, req, _ := cachedProduct(b)
	b.ReportAllocs()
	for b.Loop() {
		benchServe(b, bi.handler, req, http.StatusOK)
	}
}

func BenchmarkGetProductNotModified(b *testing.B) {
	bi, req, warm := cachedProduct(b)
	req.Header.Set("If-None-Match", warm.Header().Get("ETag"))
	b.ReportAllocs()
	for b.Loop() {
		benchServe(b, bi.handler, req, http.StatusNotModified)
	}
}

// bareEngine is the baseline: gin.New() with no middleware and one handler
// writing the bytes and headers the service sent for the same request (200,
// and a 304 with the service's 304 headers when If-None-Match equals the
// ETag). Headers are set one by one with c.Header, as any handler would.
func bareEngine(b *testing.B) (*gin.Engine, *http.Request, string) {
	b.Helper()
	bi, req, warm := cachedProduct(b)
	etag := warm.Header().Get("ETag")
	nmReq := req.Clone(context.Background())
	nmReq.Header.Set("If-None-Match", etag)
	nm := benchServe(b, bi.handler, nmReq, http.StatusNotModified)

	okHeaders, nmHeaders := headerPairs(warm.Header()), headerPairs(nm.Header())
	body := append([]byte(nil), warm.Body.Bytes()...)
	contentType := warm.Header().Get("Content-Type")
	r := gin.New()
	r.GET("/v1/products/:id", func(c *gin.Context) {
		if c.GetHeader("If-None-Match") == etag {
			for _, kv := range nmHeaders {
				c.Header(kv[0], kv[1])
			}
			c.Status(http.StatusNotModified)
			return
		}
		for _, kv := range okHeaders {
			c.Header(kv[0], kv[1])
		}
		c.Data(http.StatusOK, contentType, body)
	})
	return r, req, etag
}

// headerPairs lists the headers a handler sets itself (net/http adds Date
// and Content-Length; c.Data sets Content-Type).
func headerPairs(h http.Header) [][2]string {
	var out [][2]string
	for k, vs := range h {
		if k == "Date" || k == "Content-Length" || k == "Content-Type" {
			continue
		}
		for _, v := range vs {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func BenchmarkBareGinHandler(b *testing.B) {
	r, req, _ := bareEngine(b)
	b.ReportAllocs()
	for b.Loop() {
		benchServe(b, r, req, http.StatusOK)
	}
}

func BenchmarkBareGinHandlerNotModified(b *testing.B) {
	r, req, etag := bareEngine(b)
	req.Header.Set("If-None-Match", etag)
	b.ReportAllocs()
	for b.Loop() {
		benchServe(b, r, req, http.StatusNotModified)
	}
}

// The HTTP list page served from the list cache, deep cursor included, is
// covered by BenchmarkListPageCachedHTTP: it shows that a cached page costs
// the same however deep its cursor (the cursor is verified on each request).
func BenchmarkListPageCachedHTTP(b *testing.B) {
	bi := newBenchInstance(b)
	bi.seed(b, 200)
	first := benchServe(b, bi.handler, httptest.NewRequest(http.MethodGet, "/v1/products?limit=20", nil), http.StatusOK)
	var env struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal(first.Body.Bytes(), &env); err != nil || env.NextCursor == "" {
		b.Fatalf("first page: %v %s", err, first.Body.Bytes())
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/products?limit=20&cursor="+url.QueryEscape(env.NextCursor), nil)
	benchServe(b, bi.handler, req, http.StatusOK) // fill the list cache
	b.ReportAllocs()
	for b.Loop() {
		benchServe(b, bi.handler, req, http.StatusOK)
	}
}
