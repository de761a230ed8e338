package ratelimit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

// BenchmarkMiddleware measures what the limiter adds to a request: a Gin
// engine answering GET /v1/products with a small body, bare, behind the
// local limiter and behind the Redis limiter (one script round trip).
// 10,000 client IPs rotate so every request is admitted, as in normal
// traffic. docs/benchmarks.md reports the ratios.
func BenchmarkMiddleware(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	policies := map[string]Policy{GroupCatalogue: {Name: GroupCatalogue, Limit: 600, Window: time.Minute}}
	catalogue := func(*gin.Context) (string, bool) { return GroupCatalogue, true }
	variants := []struct {
		name string
		mw   func(b *testing.B) gin.HandlerFunc
	}{
		{"none", func(*testing.B) gin.HandlerFunc { return func(c *gin.Context) { c.Next() } }},
		{"local", func(*testing.B) gin.HandlerFunc { return New(Options{Policies: policies}).Middleware(catalogue) }},
		{"redis", func(b *testing.B) gin.HandlerFunc {
			rdb := testRedis(b)
			return New(Options{Policies: policies, Redis: redis.UniversalClient(rdb), Namespace: testNamespace(b, rdb),
				RedisTimeout: time.Second}).Middleware(catalogue)
		}},
	}
	addrs := make([]string, 10000)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.%d.%d.%d:40000", i>>16&255, i>>8&255, i&255)
	}
	body := []byte(`{"data":[{"id":"0193a0b0","name":"Mug","price_cents":1299}],"next_cursor":null}`)
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			r := gin.New()
			v1 := r.Group("/v1", v.mw(b))
			v1.GET("/products", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", body) })
			req := httptest.NewRequest("GET", "/v1/products", nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req.RemoteAddr = addrs[i%len(addrs)]
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
