// Package db opens the relational store: Postgres through GORM's pgx driver
// when a URL is configured, otherwise an embedded pure-Go SQLite file so the
// binary runs on a machine with nothing installed.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	// modernc registers the cgo-free "sqlite" database/sql driver; GORM's
	// sqlite dialector is pointed at it by DriverName (see field notes).
	_ "modernc.org/sqlite"

	"example.com/productapi/platform/config"
)

// Dialect names the store flavour; migrations are kept per dialect.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DB is the opened store.
type DB struct {
	Gorm    *gorm.DB
	SQL     *sql.DB
	Dialect Dialect
	// MigrateURL is what golang-migrate opens (it uses its own connection so
	// closing the migrator never closes the service's pool).
	MigrateURL string
	// Replicas is nil unless database.replica_urls names some (Postgres).
	Replicas *ReplicaSet
}

// Open connects and pings with a deadline so a wrong URL fails start-up fast.
func Open(ctx context.Context, cfg config.Database, log *slog.Logger) (*DB, error) {
	gcfg := &gorm.Config{
		Logger:                 newLogger(log),
		SkipDefaultTransaction: true, // single statements need no BEGIN/COMMIT
		TranslateError:         true, // unique violations become gorm.ErrDuplicatedKey
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	var (
		d   DB
		err error
	)
	if cfg.URL != "" {
		d.Dialect = Postgres
		// Migrations connect to migrate_url when set (PgBouncer in
		// transaction mode cannot hold their session advisory lock).
		migrateFrom := cfg.URL
		if cfg.MigrateURL != "" {
			migrateFrom = cfg.MigrateURL
		}
		_, rest, _ := strings.Cut(migrateFrom, "://")
		d.MigrateURL = "pgx5://" + rest
		if mu, err := url.Parse(withTimeouts(migrateFrom, config.Database{ConnectTimeout: cfg.ConnectTimeout})); err == nil {
			// golang-migrate dials without a context: only the URL's
			// connect_timeout stops it hanging on an unreachable server.
			mu.Scheme = "pgx5"
			d.MigrateURL = mu.String()
		}
		d.Gorm, err = gorm.Open(postgres.New(postgres.Config{DSN: withTimeouts(cfg.URL, cfg)}), gcfg)
	} else {
		d.Dialect = SQLite
		if err := os.MkdirAll(filepath.Dir(cfg.SQLitePath), 0o750); err != nil {
			return nil, &config.Error{Setting: "database.sqlite_path", Problem: "cannot create directory: " + err.Error()}
		}
		// WAL lets readers run beside the single writer; busy_timeout makes
		// writers queue instead of failing; _txlock=immediate takes the write
		// lock at BEGIN so read-then-write transactions cannot deadlock.
		dsn := fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate&_time_format=sqlite", cfg.SQLitePath)
		d.MigrateURL = "sqlite://" + cfg.SQLitePath + "?_pragma=busy_timeout(10000)"
		d.Gorm, err = gorm.Open(sqliteDialector{sqlite.Dialector{DriverName: "sqlite", DSN: dsn}}, gcfg)
	}
	if err != nil {
		return nil, &config.Error{Setting: "DATABASE_URL", Problem: "cannot open database: " + safeErr(err)}
	}
	d.SQL, err = d.Gorm.DB()
	if err != nil {
		return nil, err
	}
	maxOpen := cfg.MaxOpenConns
	if d.Dialect == SQLite && maxOpen > 8 {
		maxOpen = 8 // one writer at a time anyway; more connections only contend
	}
	d.SQL.SetMaxOpenConns(maxOpen)
	d.SQL.SetMaxIdleConns(min(cfg.MaxIdleConns, maxOpen))
	d.SQL.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	d.SQL.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)

	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.SQL.PingContext(pctx); err != nil {
		_ = d.SQL.Close()
		setting := "DATABASE_URL"
		if d.Dialect == SQLite {
			setting = "database.sqlite_path"
		}
		return nil, &config.Error{Setting: setting, Problem: "cannot connect: " + safeErr(err)}
	}
	if d.Dialect == Postgres && len(cfg.ReplicaURLs) > 0 {
		if err := d.openReplicas(ctx, cfg, log); err != nil {
			_ = d.SQL.Close()
			return nil, err
		}
	}
	return &d, nil
}

// Close releases the pool (and the replicas' pools).
func (d *DB) Close() error {
	if d.Replicas != nil {
		_ = d.Replicas.Close()
	}
	return d.SQL.Close()
}

// Ping reports whether the store answers within the context's deadline.
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

// safeErr keeps the driver's one-line reason but never a password: pgconn
// errors already redact the DSN; other errors are short driver messages.
func safeErr(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return oneLine("connection refused or rejected (" + connErr.Unwrap().Error() + ")")
	}
	return oneLine(err.Error())
}

// withTimeouts adds the dial timeout and the server-side per-statement
// budget (query_timeout as Postgres statement_timeout) to a URL unless it
// sets them itself: a black-holed server must not hang a request, and a
// runaway query must not hold a connection forever.
func withTimeouts(raw string, cfg config.Database) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return raw // a key=value DSN is used as given
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" && cfg.ConnectTimeout > 0 {
		q.Set("connect_timeout", strconv.Itoa(max(1, int(cfg.ConnectTimeout.Seconds()))))
	}
	if cfg.PgBouncer {
		// Transaction pooling hands each transaction another server
		// connection: no named prepared statements (PgBouncer 1.18 cannot
		// track them), and no statement_timeout startup parameter (it
		// rejects those; set the timeout with ALTER ROLE/DATABASE).
		if q.Get("default_query_exec_mode") == "" {
			q.Set("default_query_exec_mode", "simple_protocol")
		}
	} else if q.Get("statement_timeout") == "" && cfg.QueryTimeout > 0 {
		q.Set("statement_timeout", strconv.FormatInt(cfg.QueryTimeout.Milliseconds(), 10))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// oneLine folds multi-line driver messages (pgx lists every address it
// tried) so start-up failures stay a single line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}

// newLogger routes GORM's slow-query and error logs into slog; record-not-found
// is a normal outcome, not an error.
func newLogger(log *slog.Logger) logger.Interface {
	if log == nil {
		return logger.Discard
	}
	return logger.NewSlogLogger(log, logger.Config{
		SlowThreshold:             500 * time.Millisecond,
		IgnoreRecordNotFoundError: true,
		LogLevel:                  logger.Warn,
		ParameterizedQueries:      true, // never log client values
	})
}
