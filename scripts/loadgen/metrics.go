package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// metric is one sample line of the Prometheus text format.
type metric struct {
	name, labels string
	value        float64
}

var scrapeClient = &http.Client{Timeout: 5 * time.Second}

func scrape(base string) ([]metric, error) {
	res, err := scrapeClient.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("%s/metrics: %d", base, res.StatusCode)
	}
	var out []metric
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		id := line[:sp]
		m := metric{name: id, value: v}
		if i := strings.IndexByte(id, '{'); i >= 0 {
			m.name, m.labels = id[:i], id[i:]
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// sum over the metrics named name whose labels contain every want fragment
// (e.g. `level="l1"`) and none of the skip fragments.
func sum(ms []metric, name string, want []string, skip ...string) float64 {
	var s float64
next:
	for _, m := range ms {
		if m.name != name {
			continue
		}
		for _, w := range want {
			if !strings.Contains(m.labels, w) {
				continue next
			}
		}
		for _, k := range skip {
			if strings.Contains(m.labels, k) {
				continue next
			}
		}
		s += m.value
	}
	return s
}

// scrapeAll returns the summed counters this report needs, over all instances.
func scrapeAll(bases []string) map[string]float64 {
	out := map[string]float64{}
	for _, b := range bases {
		ms, err := scrape(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scrape:", err)
			continue
		}
		out["l1_hit"] += sum(ms, "cache_requests_total", []string{`level="l1"`, `result="hit"`})
		out["l1_miss"] += sum(ms, "cache_requests_total", []string{`level="l1"`, `result="miss"`})
		out["l2_hit"] += sum(ms, "cache_requests_total", []string{`level="l2"`, `result="hit"`})
		out["l2_miss"] += sum(ms, "cache_requests_total", []string{`level="l2"`, `result="miss"`})
		out["db_queries"] += sum(ms, "db_queries_total", nil)
		out["http"] += sum(ms, "http_request_duration_seconds_count", nil, `route="/metrics"`)
		out["cpu"] += sum(ms, "process_cpu_seconds_total", nil)
	}
	return out
}

type serverStats struct {
	L1HitRatio, L2HitRatio           float64
	DBQueries, DBQueriesPerRequest   float64
	ServerRequests                   float64
	DBQueriesPerServerRequest        float64
	L1Hits, L1Misses, L2Hits, L2Miss float64
	// CPU seconds the instances used during the run (process_cpu_seconds_total),
	// per 1000 client requests: the cost of a request whatever else the machine runs.
	CPUSeconds, CPUMsPerRequest float64
}

func serverDelta(before, after map[string]float64, clientRequests int64) serverStats {
	d := func(k string) float64 { return after[k] - before[k] }
	s := serverStats{L1Hits: d("l1_hit"), L1Misses: d("l1_miss"), L2Hits: d("l2_hit"), L2Miss: d("l2_miss"),
		DBQueries: d("db_queries"), ServerRequests: d("http"), CPUSeconds: d("cpu")}
	if t := s.L1Hits + s.L1Misses; t > 0 {
		s.L1HitRatio = s.L1Hits / t
	}
	if t := s.L2Hits + s.L2Miss; t > 0 {
		s.L2HitRatio = s.L2Hits / t
	}
	if clientRequests > 0 {
		s.DBQueriesPerRequest = s.DBQueries / float64(clientRequests)
		s.CPUMsPerRequest = 1000 * s.CPUSeconds / float64(clientRequests)
	}
	if s.ServerRequests > 0 {
		s.DBQueriesPerServerRequest = s.DBQueries / s.ServerRequests
	}
	return s
}

// ---- soak samples ----

type instanceSample struct {
	Instance                 string
	RSSMiB, Goroutines       float64
	DBOpen, DBInUse, HeapMiB float64
}

type sample struct {
	T         float64 // seconds since the start
	Instances []instanceSample
}

func takeSample(bases []string, t time.Duration) sample {
	s := sample{T: t.Seconds()}
	for _, b := range bases {
		ms, err := scrape(b)
		if err != nil {
			s.Instances = append(s.Instances, instanceSample{Instance: b + " (down)"})
			continue
		}
		s.Instances = append(s.Instances, instanceSample{
			Instance:   strings.TrimPrefix(b, "http://"),
			RSSMiB:     sum(ms, "process_resident_memory_bytes", nil) / (1 << 20),
			HeapMiB:    sum(ms, "go_memstats_heap_inuse_bytes", nil) / (1 << 20),
			Goroutines: sum(ms, "go_goroutines", nil),
			DBOpen:     sum(ms, "go_sql_open_connections", nil),
			DBInUse:    sum(ms, "go_sql_in_use_connections", nil),
		})
	}
	return s
}

func printSample(s sample) {
	for _, in := range s.Instances {
		fmt.Fprintf(os.Stderr, "sample %5.0fs %s rss=%.1fMiB heap=%.1fMiB goroutines=%.0f db_open=%.0f db_in_use=%.0f\n",
			s.T, in.Instance, in.RSSMiB, in.HeapMiB, in.Goroutines, in.DBOpen, in.DBInUse)
	}
}
