package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/periodic"
)

// ErrUnavailable is what every statement returns while the database is
// known to be down: handlers answer 503 with Retry-After at once instead of
// hanging until a timeout, and cached reads fall back to their stale copy.
var ErrUnavailable = apperr.Unavailable("database.unavailable", "the database is unavailable; retry shortly", 2*time.Second)

// Guard watches the database. A prober pings it on its own schedule, so
// requests never wait on a dead server: after downAfter consecutive failed
// pings every GORM statement fails fast with ErrUnavailable, and the first
// good ping lets them through again (no restart needed). Connection-level
// errors from real statements are also mapped to ErrUnavailable, so a
// client sees 503, not 500, whichever comes first.
type Guard struct {
	db        *DB
	up        atomic.Bool
	fails     atomic.Int32
	every     time.Duration
	timeout   time.Duration
	downAfter int32
	log       *slog.Logger
	changes   atomic.Uint64
}

// NewGuard installs the guard's GORM callbacks; call Run to start probing.
func NewGuard(d *DB, every, timeout time.Duration, log *slog.Logger) (*Guard, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{db: d, every: every, timeout: timeout, downAfter: 2, log: log}
	g.up.Store(true)
	if err := d.Gorm.Use(g); err != nil {
		return nil, err
	}
	cb := d.Gorm.Callback()
	// "*" puts a callback first (Before) or last (After) in its chain; naming
	// a neighbour would break when it is not registered (GORM leaves out
	// gorm:begin_transaction under SkipDefaultTransaction).
	for _, err := range []error{
		cb.Create().Before("*").Register("guard:fail_fast", g.failFast),
		cb.Create().After("*").Register("guard:classify", g.classify),
		cb.Query().Before("*").Register("guard:fail_fast", g.failFast),
		cb.Query().After("*").Register("guard:classify", g.classify),
		cb.Update().Before("*").Register("guard:fail_fast", g.failFast),
		cb.Update().After("*").Register("guard:classify", g.classify),
		cb.Delete().Before("*").Register("guard:fail_fast", g.failFast),
		cb.Delete().After("*").Register("guard:classify", g.classify),
		cb.Row().Before("*").Register("guard:fail_fast", g.failFast),
		cb.Row().After("*").Register("guard:classify", g.classify),
		cb.Raw().Before("*").Register("guard:fail_fast", g.failFast),
		cb.Raw().After("*").Register("guard:classify", g.classify),
	} {
		if err != nil {
			return nil, err
		}
	}
	return g, nil
}

// guardPlugin is the name the guard is registered under, so Transact can
// find it from any *gorm.DB of the pool.
const guardPlugin = "productapi:guard"

// Name and Initialize make the guard a GORM plugin (Use is called by NewGuard).
func (g *Guard) Name() string              { return guardPlugin }
func (g *Guard) Initialize(*gorm.DB) error { return nil }

// guardOf returns the guard installed on base's pool, if any.
func guardOf(base *gorm.DB) *Guard {
	g, _ := base.Config.Plugins[guardPlugin].(*Guard)
	return g
}

// Up reports whether the database is believed reachable.
func (g *Guard) Up() bool { return g.up.Load() }

// Check is a /readyz check that reads the guard's verdict (no extra ping).
func (g *Guard) Check(context.Context) error {
	if g.Up() {
		return nil
	}
	return ErrUnavailable
}

// Run probes until ctx ends.
func (g *Guard) Run(ctx context.Context) {
	periodic.Every(ctx, g.every, g.probe)
}

func (g *Guard) probe(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, g.timeout)
	err := g.db.SQL.PingContext(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		g.fails.Store(0)
		g.set(true, nil)
		return
	}
	if g.fails.Add(1) >= g.downAfter {
		g.set(false, err)
	}
}

func (g *Guard) set(up bool, cause error) {
	if g.up.Swap(up) == up {
		return
	}
	g.changes.Add(1)
	if up {
		g.log.Info("database reachable again; serving writes")
	} else {
		g.log.Error("database unreachable; failing fast until it answers", "err", cause)
	}
}

// failFast runs before every statement.
func (g *Guard) failFast(tx *gorm.DB) {
	if !g.up.Load() && tx.Error == nil {
		_ = tx.AddError(ErrUnavailable)
	}
}

// classify runs after every statement: a lost connection is "unavailable"
// (503, retry), not an internal error, and counts towards marking it down.
func (g *Guard) classify(tx *gorm.DB) {
	if tx.Error == nil || errors.Is(tx.Error, ErrUnavailable) || !isConnectionError(tx.Error) {
		return
	}
	if tx.Statement != nil && tx.Statement.Context != nil && tx.Statement.Context.Err() != nil {
		return // the caller gave up; not the database's fault
	}
	if g.fails.Add(1) >= g.downAfter {
		g.set(false, tx.Error)
	}
	tx.Error = ErrUnavailable.Wrap(tx.Error)
}

func isConnectionError(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded)
}
