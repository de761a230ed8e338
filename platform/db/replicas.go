package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver for the replica pools
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/periodic"
)

// Read routing. gorm.io/plugin/dbresolver decides whether a statement is a
// read (outside a transaction, no FOR UPDATE, no dbresolver.Write clause);
// every read it resolves lands on routedPool, which picks the replica or the
// primary from the context and the replicas' measured state:
//
//   - a read goes to a replica only when the context allows it
//     (AllowReplica: set per request for GET/HEAD by the read-routing
//     middleware); background work, writes and transactions read the
//     primary;
//   - only replicas that answered the last check, are in recovery and whose
//     lag is within replica_max_lag are candidates (round robin);
//   - FreshSince(ctx, t) additionally requires a replica that has replayed
//     all WAL the primary had written at t (cache fills after an
//     invalidation use it, so a lagging replica can never put the value a
//     write just replaced back into the cache);
//   - no candidate: the primary. A read that fails on a replica with a
//     connection-level error (or a recovery conflict) marks the replica
//     down and is retried on the primary, so losing a replica costs no
//     request.
//
// Lag is measured by LSN, not by pg_last_xact_replay_timestamp() (which
// grows while the primary is idle): each check samples the primary's
// pg_current_wal_lsn() with the time it was taken, and a replica whose
// pg_last_wal_replay_lsn() has passed a sample holds every transaction
// committed before that sample's time. Its lag is the age of the newest such
// sample: ~0 for an idle or caught-up replica, growing while replay is
// paused or behind.

type readPolicyKey struct{}

type readPolicy struct {
	replica bool  // a replica may serve this read
	primary bool  // forced to the primary (wins over replica)
	fresh   int64 // unix nanos the replica must have caught up to
}

func policyOf(ctx context.Context) readPolicy {
	p, _ := ctx.Value(readPolicyKey{}).(readPolicy)
	return p
}

// AllowReplica lets reads under ctx (outside a transaction) go to a healthy
// replica. Without it every read goes to the primary.
func AllowReplica(ctx context.Context) context.Context {
	p := policyOf(ctx)
	p.replica = true
	return context.WithValue(ctx, readPolicyKey{}, p)
}

// RequirePrimary sends every read under ctx to the primary
// (read-your-own-writes), whatever AllowReplica said.
func RequirePrimary(ctx context.Context) context.Context {
	p := policyOf(ctx)
	p.primary = true
	return context.WithValue(ctx, readPolicyKey{}, p)
}

// FreshSince restricts replica reads under ctx to replicas that have
// replayed everything the primary had written at t; if none has, the
// primary serves the read. The zero time changes nothing.
func FreshSince(ctx context.Context, t time.Time) context.Context {
	if t.IsZero() {
		return ctx
	}
	p := policyOf(ctx)
	if n := t.UnixNano(); n > p.fresh {
		p.fresh = n
		return context.WithValue(ctx, readPolicyKey{}, p)
	}
	return ctx
}

// ReplicaAllowed reports whether reads under ctx may go to a replica.
func ReplicaAllowed(ctx context.Context) bool {
	p := policyOf(ctx)
	return p.replica && !p.primary && !InTx(ctx)
}

// ReplicaOptions tune the checker.
type ReplicaOptions struct {
	MaxLag        time.Duration // replicas further behind are skipped
	CheckInterval time.Duration
	CheckTimeout  time.Duration
}

// ReplicaSet is the primary's read replicas and their measured state.
type ReplicaSet struct {
	primary  *sql.DB
	replicas []*replica
	opt      ReplicaOptions
	log      *slog.Logger
	rr       atomic.Uint64

	mu      sync.Mutex
	samples []lsnSample // oldest first, bounded

	routed       *prometheus.CounterVec
	fallbacks    *prometheus.CounterVec
	primaryReads prometheus.Counter // routed{target="primary"}, resolved once
}

type lsnSample struct {
	at  int64 // unix nanos, taken before the query
	lsn int64
}

type replica struct {
	name     string // host:port, never credentials
	db       *sql.DB
	up       atomic.Bool
	caughtUp atomic.Int64 // unix nanos; see the package comment
	lag      atomic.Int64 // nanos at the last check; MaxInt64 unknown
	warned   atomic.Bool
	reads    prometheus.Counter // routed{target=name}
}

// maxSamples bounds the primary LSN history (one sample per check).
const maxSamples = 256

func newReplicaSet(primary *sql.DB, opt ReplicaOptions, log *slog.Logger) *ReplicaSet {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.MaxLag <= 0 {
		opt.MaxLag = 5 * time.Second
	}
	if opt.CheckInterval <= 0 {
		opt.CheckInterval = 500 * time.Millisecond
	}
	if opt.CheckTimeout <= 0 {
		opt.CheckTimeout = time.Second
	}
	rs := &ReplicaSet{
		primary: primary, opt: opt, log: log,
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "db_reads_routed_total",
			Help: "Reads outside a transaction by the server that served them (a replica's host:port, or primary).",
		}, []string{"target"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "db_replica_fallbacks_total",
			Help: "Reads that failed on a replica (connection lost, recovery conflict) and were retried on the primary.",
		}, []string{"replica"}),
	}
	rs.primaryReads = rs.routed.WithLabelValues("primary")
	return rs
}

func (rs *ReplicaSet) add(rawURL string, d *sql.DB) {
	name := "replica"
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		name = u.Host
	}
	r := &replica{name: name, db: d, reads: rs.routed.WithLabelValues(name)}
	r.lag.Store(math.MaxInt64)
	rs.replicas = append(rs.replicas, r)
	rs.fallbacks.WithLabelValues(name)
}

// Register exports db_replica_up, db_replica_lag_seconds,
// db_reads_routed_total and db_replica_fallbacks_total.
func (rs *ReplicaSet) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{rs.routed, rs.fallbacks} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	for _, r := range rs.replicas {
		r := r
		labels := prometheus.Labels{"replica": r.name}
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "db_replica_up", Help: "1 while the replica answers, is in recovery and is within replica_max_lag (it serves reads).",
			ConstLabels: labels,
		}, func() float64 {
			if rs.usable(r, time.Now().UnixNano()) {
				return 1
			}
			return 0
		})); err != nil {
			return err
		}
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "db_replica_lag_seconds", Help: "How far the replica's replay is behind the primary at the last check (+Inf unknown).",
			ConstLabels: labels,
		}, func() float64 {
			if l := r.lag.Load(); l != math.MaxInt64 {
				return time.Duration(l).Seconds()
			}
			return math.Inf(1)
		})); err != nil {
			return err
		}
	}
	return nil
}

// Run checks the replicas every CheckInterval until ctx ends. Open already
// ran the first check.
func (rs *ReplicaSet) Run(ctx context.Context) {
	periodic.Every(ctx, rs.opt.CheckInterval, rs.Check)
}

// Check samples the primary's WAL position and every replica's replay
// position once.
func (rs *ReplicaSet) Check(ctx context.Context) {
	at := time.Now().UnixNano()
	cctx, cancel := context.WithTimeout(ctx, rs.opt.CheckTimeout)
	var plsn int64
	perr := rs.primary.QueryRowContext(cctx, "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint").Scan(&plsn)
	cancel()
	if perr == nil {
		rs.mu.Lock()
		rs.samples = append(rs.samples, lsnSample{at: at, lsn: plsn})
		if len(rs.samples) > maxSamples {
			rs.samples = append(rs.samples[:0], rs.samples[len(rs.samples)-maxSamples:]...)
		}
		rs.mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, r := range rs.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs.checkReplica(ctx, r, perr == nil)
		}()
	}
	wg.Wait()
}

func (rs *ReplicaSet) checkReplica(ctx context.Context, r *replica, sampled bool) {
	cctx, cancel := context.WithTimeout(ctx, rs.opt.CheckTimeout)
	defer cancel()
	var (
		inRecovery bool
		rlsn       int64
	)
	err := r.db.QueryRowContext(cctx, "SELECT pg_is_in_recovery(), COALESCE((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, -1)").Scan(&inRecovery, &rlsn)
	if ctx.Err() != nil {
		return
	}
	switch {
	case err != nil:
		rs.setUp(r, false, "replica unreachable; reads go elsewhere", "err", safeErr(err))
		return
	case !inRecovery:
		rs.setUp(r, false, "server is not in recovery (promoted or not a replica); not reading from it")
		return
	}
	if sampled {
		// The newest primary sample the replica has replayed past.
		rs.mu.Lock()
		for i := len(rs.samples) - 1; i >= 0; i-- {
			if s := rs.samples[i]; s.lsn <= rlsn {
				if s.at > r.caughtUp.Load() {
					r.caughtUp.Store(s.at)
				}
				break
			}
		}
		rs.mu.Unlock()
		if cu := r.caughtUp.Load(); cu > 0 {
			r.lag.Store(max(0, time.Now().UnixNano()-cu))
		}
	}
	rs.setUp(r, true, "replica reachable")
}

func (rs *ReplicaSet) setUp(r *replica, up bool, msg string, args ...any) {
	if r.up.Swap(up) == up {
		return
	}
	if up {
		rs.log.Info(msg, append([]any{"replica", r.name}, args...)...)
	} else {
		rs.log.Warn(msg, append([]any{"replica", r.name}, args...)...)
	}
}

// usable reports whether r may serve reads at now: it answered the last
// check and its replay is within MaxLag. Staleness keeps growing between
// checks while replay is stuck, so the time since its caught-up point
// counts, not only the lag measured at the check.
func (rs *ReplicaSet) usable(r *replica, now int64) bool {
	if !r.up.Load() {
		return false
	}
	cu := r.caughtUp.Load()
	lagging := cu == 0 || r.lag.Load() > int64(rs.opt.MaxLag) || now-cu > int64(rs.opt.MaxLag+rs.opt.CheckInterval+rs.opt.CheckTimeout)
	if lagging && r.warned.CompareAndSwap(false, true) {
		rs.log.Warn("replica lags beyond replica_max_lag; reads go elsewhere", "replica", r.name, "max_lag", rs.opt.MaxLag)
	} else if !lagging {
		r.warned.Store(false)
	}
	return !lagging
}

// pick chooses the replica for a read under ctx, or nil for the primary.
func (rs *ReplicaSet) pick(ctx context.Context) *replica {
	if !ReplicaAllowed(ctx) {
		return nil
	}
	p := policyOf(ctx)
	now := time.Now().UnixNano()
	n := len(rs.replicas)
	start := int(rs.rr.Add(1) % uint64(n))
	for i := range n {
		r := rs.replicas[(start+i)%n]
		if rs.usable(r, now) && r.caughtUp.Load() >= p.fresh {
			return r
		}
	}
	return nil
}

// Usable counts the replicas currently serving reads.
func (rs *ReplicaSet) Usable() int {
	now, n := time.Now().UnixNano(), 0
	for _, r := range rs.replicas {
		if rs.usable(r, now) {
			n++
		}
	}
	return n
}

// Health is the /readyz check (non-critical: the primary serves reads
// while no replica can).
func (rs *ReplicaSet) Health(context.Context) error {
	if u := rs.Usable(); u < len(rs.replicas) {
		return fmt.Errorf("%d of %d replicas usable (down or lagging); their reads go to the primary", u, len(rs.replicas))
	}
	return nil
}

// Close closes the replica pools.
func (rs *ReplicaSet) Close() error {
	var errs []error
	for _, r := range rs.replicas {
		errs = append(errs, r.db.Close())
	}
	return errors.Join(errs...)
}

// shouldFallback reports whether a read that failed on a replica is worth
// retrying on the primary: the replica is unreachable, shutting down or
// starting, or cancelled the query for a recovery conflict.
func shouldFallback(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "57P01", "57P02", "57P03", "3D000", "53300":
			return true
		}
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08"
	}
	return isConnectionError(err)
}

// routedPool is the one "replica" dbresolver knows: it sends each read to
// the replica pick chose, or to the primary.
type routedPool struct{ rs *ReplicaSet }

func (p routedPool) target(ctx context.Context) *replica {
	r := p.rs.pick(ctx)
	if r == nil {
		p.rs.primaryReads.Inc()
	} else {
		r.reads.Inc()
	}
	return r
}

func (p routedPool) fallback(r *replica, err error) {
	p.rs.fallbacks.WithLabelValues(r.name).Inc()
	p.rs.primaryReads.Inc()
	p.rs.setUp(r, false, "read failed on replica; retried on the primary", "err", safeErr(err))
}

func (p routedPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if r := p.target(ctx); r != nil {
		return r.db.PrepareContext(ctx, query)
	}
	return p.rs.primary.PrepareContext(ctx, query)
}

func (p routedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if r := p.target(ctx); r != nil {
		res, err := r.db.ExecContext(ctx, query, args...)
		if !shouldFallback(ctx, err) {
			return res, err
		}
		p.fallback(r, err)
	}
	return p.rs.primary.ExecContext(ctx, query, args...)
}

func (p routedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if r := p.target(ctx); r != nil {
		rows, err := r.db.QueryContext(ctx, query, args...)
		if !shouldFallback(ctx, err) {
			return rows, err
		}
		p.fallback(r, err)
	}
	return p.rs.primary.QueryContext(ctx, query, args...)
}

func (p routedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if r := p.target(ctx); r != nil {
		row := r.db.QueryRowContext(ctx, query, args...)
		if !shouldFallback(ctx, row.Err()) {
			return row
		}
		p.fallback(r, row.Err())
	}
	return p.rs.primary.QueryRowContext(ctx, query, args...)
}

// openReplicas opens a pool per replica URL, registers dbresolver with the
// routed pool as its only replica and runs the first check, so reads use
// the replicas from the first request on.
func (d *DB) openReplicas(ctx context.Context, cfg config.Database, log *slog.Logger) error {
	rs := newReplicaSet(d.SQL, ReplicaOptions{MaxLag: cfg.ReplicaMaxLag, CheckInterval: cfg.ReplicaCheckInterval,
		CheckTimeout: cfg.ProbeTimeout}, log)
	for _, u := range cfg.ReplicaURLs {
		pool, err := sql.Open("pgx", withTimeouts(u, cfg))
		if err != nil {
			_ = rs.Close()
			return &config.Error{Setting: "DATABASE_REPLICA_URLS", Problem: safeErr(err)}
		}
		pool.SetMaxOpenConns(cfg.MaxOpenConns)
		pool.SetMaxIdleConns(min(cfg.MaxIdleConns, cfg.MaxOpenConns))
		pool.SetConnMaxLifetime(cfg.ConnMaxLifetime)
		pool.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)
		rs.add(u, pool)
	}
	// dbresolver classifies statements (reads outside transactions, no
	// FOR UPDATE, no dbresolver.Write clause); routedPool places them.
	if err := d.Gorm.Use(dbresolver.Register(dbresolver.Config{
		Replicas: []gorm.Dialector{postgres.New(postgres.Config{Conn: routedPool{rs}})},
	})); err != nil {
		_ = rs.Close()
		return &config.Error{Setting: "DATABASE_REPLICA_URLS", Problem: safeErr(err)}
	}
	// A replica that is down at start-up is not fatal: reads use the
	// primary until it answers.
	rs.Check(ctx)
	d.Replicas = rs
	return nil
}
