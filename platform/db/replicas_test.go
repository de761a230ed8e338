package db

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gorm.io/plugin/dbresolver"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/netproxy"
	"example.com/productapi/platform/testkit/replicatest"
)

// openWithReplica opens the pair's primary with the replica reached
// through a proxy the test can stop.
func openWithReplica(t *testing.T, p *replicatest.Pair, maxLag time.Duration) (*DB, *netproxy.Proxy) {
	t.Helper()
	proxy := netproxy.Start(t, p.HostPort())
	cfg := config.Defaults().Database
	cfg.URL = p.Primary
	cfg.ReplicaURLs = []string{p.Via(proxy.Addr())}
	cfg.ReplicaMaxLag = maxLag
	cfg.ReplicaCheckInterval = 50 * time.Millisecond
	cfg.ProbeTimeout = 500 * time.Millisecond
	cfg.ConnectTimeout = time.Second
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if d.Replicas == nil || len(d.Replicas.replicas) != 1 {
		t.Fatal("replica set not opened")
	}
	if err := d.Replicas.Register(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go d.Replicas.Run(ctx)
	return d, proxy
}

// inRecovery asks, through the resolver, which server answered a read.
func inRecovery(t *testing.T, d *DB, ctx context.Context) bool {
	t.Helper()
	var rec bool
	if err := d.Gorm.WithContext(ctx).Raw("SELECT pg_is_in_recovery()").Scan(&rec).Error; err != nil {
		t.Fatal(err)
	}
	return rec
}

func routed(d *DB, target string) float64 {
	return testutil.ToFloat64(d.Replicas.routed.WithLabelValues(target))
}

func TestReplicaRoutesReadsAndKeepsWritesOnPrimary(t *testing.T) {
	p := replicatest.Fresh(t, "papi_rr")
	d, proxy := openWithReplica(t, p, 5*time.Second)
	name := proxy.Addr()
	if err := d.Gorm.Exec("CREATE TABLE t (id int PRIMARY KEY, v text)").Error; err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	replicaOK := AllowReplica(bg)
	testkit.Eventually(t, 15*time.Second, "replica usable", func() bool { return d.Replicas.Usable() == 1 })

	if !inRecovery(t, d, replicaOK) {
		t.Fatal("a read allowed on a replica was served by the primary")
	}
	if routed(d, name) < 1 {
		t.Fatalf("db_reads_routed_total{target=%q} not counted", name)
	}
	if inRecovery(t, d, bg) {
		t.Fatal("a read without AllowReplica (background work) went to the replica")
	}
	if inRecovery(t, d, RequirePrimary(replicaOK)) {
		t.Fatal("RequirePrimary did not win over AllowReplica")
	}
	// Writes go to the primary even when reads may use the replica (the
	// replica would refuse them: read-only transaction).
	if err := d.Gorm.WithContext(replicaOK).Exec("INSERT INTO t VALUES (1, 'a')").Error; err != nil {
		t.Fatalf("write under AllowReplica: %v", err)
	}
	// Reads inside a unit of work see its writes: they run on the primary.
	err := Transact(replicaOK, d.Gorm, func(ctx context.Context) error {
		if err := Conn(ctx, d.Gorm).Exec("INSERT INTO t VALUES (2, 'b')").Error; err != nil {
			return err
		}
		var n int64
		if err := Conn(ctx, d.Gorm).Table("t").Count(&n).Error; err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("read inside the transaction saw %d rows, want 2", n)
		}
		if inRecovery(t, d, ctx) {
			t.Error("a read inside a transaction went to the replica")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// An explicit dbresolver.Write clause pins a read to the primary.
	var rec bool
	if err := d.Gorm.WithContext(replicaOK).Clauses(dbresolver.Write).Raw("SELECT pg_is_in_recovery()").Scan(&rec).Error; err != nil || rec {
		t.Fatalf("dbresolver.Write read: recovery=%v err=%v", rec, err)
	}
	// The rows replicate and a model read on the replica sees them.
	p.WaitReplayed(t)
	var n int64
	if err := d.Gorm.WithContext(replicaOK).Table("t").Count(&n).Error; err != nil || n != 2 {
		t.Fatalf("replica count %d err %v", n, err)
	}
}

func TestReplicaStoppedReadsFallBackWithoutFailures(t *testing.T) {
	p := replicatest.Fresh(t, "papi_rd")
	d, proxy := openWithReplica(t, p, 5*time.Second)
	testkit.Eventually(t, 15*time.Second, "replica usable", func() bool { return d.Replicas.Usable() == 1 })
	ctx := AllowReplica(context.Background())

	var (
		failures, reads, onReplica atomic.Int64
		stop                       atomic.Bool
		wg                         sync.WaitGroup
		firstErr                   atomic.Value
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				var rec bool
				if err := d.Gorm.WithContext(ctx).Raw("SELECT pg_is_in_recovery()").Scan(&rec).Error; err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				reads.Add(1)
				if rec {
					onReplica.Add(1)
				}
			}
		}()
	}
	testkit.Eventually(t, 15*time.Second, "reads on the replica", func() bool { return onReplica.Load() > 20 })
	proxy.SetDown(true) // the replica stops: live connections die, new ones are refused
	testkit.Eventually(t, 15*time.Second, "replica marked down", func() bool { return d.Replicas.Usable() == 0 })
	before := reads.Load()
	testkit.Eventually(t, 15*time.Second, "reads continue on the primary", func() bool { return reads.Load() > before+50 })
	if inRecovery(t, d, ctx) {
		t.Fatal("a read reached the stopped replica")
	}
	proxy.SetDown(false)
	testkit.Eventually(t, 15*time.Second, "replica back", func() bool { return d.Replicas.Usable() == 1 })
	testkit.Eventually(t, 15*time.Second, "reads on the replica again", func() bool { return inRecovery(t, d, ctx) })
	stop.Store(true)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d reads failed while the replica stopped; first: %v", n, reads.Load()+n, firstErr.Load())
	}
	t.Logf("%d reads, %d on the replica, %.0f retried on the primary after a replica error",
		reads.Load(), onReplica.Load(), testutil.ToFloat64(d.Replicas.fallbacks.WithLabelValues(proxy.Addr())))
}

func TestLaggingReplicaIsSkippedAndFreshSinceWaitsForReplay(t *testing.T) {
	p := replicatest.Fresh(t, "papi_rl")
	d, _ := openWithReplica(t, p, 400*time.Millisecond)
	if err := d.Gorm.Exec("CREATE TABLE t (id int PRIMARY KEY, v text)").Error; err != nil {
		t.Fatal(err)
	}
	if err := d.Gorm.Exec("INSERT INTO t VALUES (1, 'old')").Error; err != nil {
		t.Fatal(err)
	}
	p.WaitReplayed(t)
	ctx := AllowReplica(context.Background())
	testkit.Eventually(t, 15*time.Second, "replica usable", func() bool { return d.Replicas.Usable() == 1 })

	read := func(ctx context.Context) string {
		var v string
		if err := d.Gorm.WithContext(ctx).Raw("SELECT v FROM t WHERE id = 1").Scan(&v).Error; err != nil {
			t.Fatal(err)
		}
		return v
	}
	p.PauseReplay(t)
	if err := d.Gorm.Exec("UPDATE t SET v = 'new' WHERE id = 1").Error; err != nil {
		t.Fatal(err)
	}
	wrote := time.Now()
	var onReplica string
	p.OnReplica(t, "SELECT v FROM t WHERE id = 1", &onReplica)
	if onReplica != "old" {
		t.Fatalf("replica shows %q with replay paused; the test cannot tell replica from primary", onReplica)
	}
	// A read that must see the write (a cache fill after the invalidation)
	// never gets the lagging replica, even while its lag is still within
	// the limit.
	if got := read(FreshSince(ctx, wrote)); got != "new" {
		t.Fatalf("FreshSince read %q from a replica that has not replayed the write", got)
	}
	// Past replica_max_lag the replica serves nothing at all. (Usable() can
	// also reach 0 on a timed-out check; wait for the lag itself too.)
	testkit.Eventually(t, 15*time.Second, "replica skipped for lag", func() bool {
		return d.Replicas.Usable() == 0 && time.Duration(d.Replicas.replicas[0].lag.Load()) >= 400*time.Millisecond
	})
	if d.Replicas.Health(context.Background()) == nil {
		t.Fatal("health check passes with the only replica lagging")
	}
	if got := read(ctx); got != "new" {
		t.Fatalf("read %q from a lagging replica", got)
	}

	p.ResumeReplay(t)
	testkit.Eventually(t, 15*time.Second, "replica caught up", func() bool { return d.Replicas.Usable() == 1 })
	testkit.Eventually(t, 15*time.Second, "FreshSince read served by the caught-up replica", func() bool {
		return inRecovery(t, d, FreshSince(ctx, wrote)) && read(FreshSince(ctx, wrote)) == "new"
	})
}

func TestReplicaDownAtStartIsNotFatal(t *testing.T) {
	p := replicatest.Fresh(t, "papi_rs")
	proxy := netproxy.Start(t, p.HostPort())
	proxy.SetDown(true)
	cfg := config.Defaults().Database
	cfg.URL = p.Primary
	cfg.ReplicaURLs = []string{p.Via(proxy.Addr())}
	cfg.ConnectTimeout = time.Second
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("a stopped replica failed start-up: %v", err)
	}
	defer d.Close()
	if d.Replicas.Usable() != 0 {
		t.Fatal("a stopped replica counted as usable")
	}
	if inRecovery(t, d, AllowReplica(context.Background())) {
		t.Fatal("read reached a stopped replica")
	}
}

func TestShouldFallback(t *testing.T) {
	ctx := context.Background()
	if shouldFallback(ctx, nil) || shouldFallback(ctx, errors.New("syntax error")) {
		t.Fatal("ordinary errors must not be retried on the primary")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if shouldFallback(cancelled, context.Canceled) {
		t.Fatal("a caller that gave up must not be retried")
	}
}

func TestPgBouncerModeURL(t *testing.T) {
	cfg := config.Defaults().Database
	cfg.PgBouncer = true
	got := withTimeouts("postgres://u@pgb:6432/app?sslmode=disable", cfg)
	if !strings.Contains(got, "default_query_exec_mode=simple_protocol") || strings.Contains(got, "statement_timeout") {
		t.Fatalf("pgbouncer mode URL %q: want the simple protocol and no statement_timeout startup parameter", got)
	}
	if got := withTimeouts("postgres://u@pgb:6432/app?default_query_exec_mode=exec", cfg); !strings.Contains(got, "default_query_exec_mode=exec") {
		t.Fatalf("an explicit exec mode was overridden: %q", got)
	}
	cfg.PgBouncer = false
	if got := withTimeouts("postgres://u@db:5432/app", cfg); strings.Contains(got, "default_query_exec_mode") || !strings.Contains(got, "statement_timeout=5000") {
		t.Fatalf("direct URL %q", got)
	}
}
