package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	m, err := parseMix("reads=80, auth=10,checkout=10")
	if err != nil || m["reads"] != 80 || m["auth"] != 10 || m["checkout"] != 10 {
		t.Fatalf("parseMix: %v %v", m, err)
	}
	for _, bad := range []string{"reads", "reads=x", "reads=-1", "writes=10", "reads=0,auth=0", "", "reads=9223372036854775807,auth=1"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted", bad)
		}
	}
}

func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"reads=80,auth=10,checkout=10", "reads=1", "auth=0,checkout=5", "=", ",,", "reads=99999999999999999999", "reads=9223372036854775807,auth=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMix(s)
		if err != nil {
			return
		}
		total := 0
		for k, v := range m {
			if v < 0 || (k != "reads" && k != "auth" && k != "checkout") {
				t.Fatalf("parseMix(%q) = %v", s, m)
			}
			total += v
		}
		if total <= 0 {
			t.Fatalf("parseMix(%q) accepted all-zero weights: %v", s, m)
		}
	})
}

// The /metrics diff sums the right series over instances: cache levels
// apart, /metrics scrapes excluded from the server request count.
func TestScrapeAllAndDelta(t *testing.T) {
	serve := func(l1hit, l1miss, queries, reqs, cpu float64) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `# HELP cache_requests_total x
# TYPE cache_requests_total counter
cache_requests_total{cache="cluster",level="l1",result="hit"} %v
cache_requests_total{cache="cluster",level="l1",result="miss"} %v
cache_requests_total{cache="cluster",level="l2",result="hit"} 1
cache_requests_total{cache="cluster",level="l2",result="miss"} 3
db_queries_total{operation="query"} %v
db_queries_total{operation="create"} 1
http_request_duration_seconds_count{method="GET",route="/v1/products",status="200"} %v
http_request_duration_seconds_count{method="GET",route="/metrics",status="200"} 1000
process_cpu_seconds_total %v
go_goroutines 42
`, l1hit, l1miss, queries, reqs, cpu)
		}))
	}
	a, b := serve(10, 10, 5, 20, 1.5), serve(30, 10, 15, 40, 2.5)
	defer a.Close()
	defer b.Close()
	got := scrapeAll([]string{a.URL, b.URL})
	want := map[string]float64{"l1_hit": 40, "l1_miss": 20, "l2_hit": 2, "l2_miss": 6, "db_queries": 22, "http": 60, "cpu": 4}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	before := map[string]float64{"l1_hit": 0, "l1_miss": 0, "db_queries": 2, "http": 0, "cpu": 1}
	d := serverDelta(before, got, 40)
	if d.L1HitRatio != 40.0/60 || d.L2HitRatio != 0.25 || d.DBQueriesPerRequest != 0.5 || d.CPUMsPerRequest != 75 {
		t.Errorf("serverDelta = %+v", d)
	}
	s := takeSample([]string{a.URL, "http://127.0.0.1:1"}, 0)
	if s.Instances[0].Goroutines != 42 || !strings.HasSuffix(s.Instances[1].Instance, "(down)") {
		t.Errorf("takeSample = %+v", s)
	}
}
