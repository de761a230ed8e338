package routemeta

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"example.com/productapi/platform/resilience"
)

// Lookup finds a route's Meta by the route Gin matched (its template, under
// groups and with a trailing slash kept), and answers the limiters without
// allocating: it runs on every request.
func TestLookupByMatchedRoute(t *testing.T) {
	gin.SetMode(gin.TestMode)
	table := NewTable()
	r := gin.New()
	type seen struct {
		meta Meta
		ok   bool
	}
	got := map[string]seen{}
	var allocs float64
	record := func(c *gin.Context) {
		m, ok := table.Lookup(c)
		got[c.Request.URL.Path] = seen{m, ok}
		allocs = testing.AllocsPerRun(100, func() { table.Lookup(c); table.RateGroup(c); table.Class(c) })
	}
	root := table.On(&r.RouterGroup)
	root.GET("/livez", Meta{Unlimited: true}, record)
	v1 := root.Group("/v1")
	v1.Group("/products").GET("", Meta{Group: "catalogue"}.Sheddable(), record)
	v1.Group("/things/").GET(":id/", Default, record)
	r.GET("/undeclared", record)

	want := map[string]seen{
		"/livez":        {Meta{Unlimited: true}, true},
		"/v1/products":  {Meta{Group: "catalogue", Class: resilience.Sheddable}, true},
		"/v1/things/7/": {Default, true},
		"/undeclared":   {Meta{}, false},
	}
	for path, w := range want {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
		if got[path] != w {
			t.Errorf("%s: Lookup %+v, want %+v", path, got[path], w)
		}
		if allocs != 0 {
			t.Errorf("%s: %v allocations per lookup", path, allocs)
		}
	}
}
