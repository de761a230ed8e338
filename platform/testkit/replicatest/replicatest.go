// Package replicatest gives tests a fresh database on the primary together
// with its URL on the streaming replica made by scripts/pg-replica
// (TEST_REPLICA_URL), and a way to make that replica lag (replay paused).
// Without TEST_REPLICA_URL the test is skipped, or fails when
// REQUIRE_REPLICA=1. The replica is shared by every test process, so each
// replica test holds an exclusive advisory lock on the primary while it
// runs: one test's paused replay never meets another's assertions.
package replicatest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"example.com/productapi/platform/testkit"
	"example.com/productapi/platform/testkit/pgtest"
)

// lockKey is the advisory lock serialising replica tests across processes.
const lockKey = 7_240_601

// Require skips or fails tb when no replica is configured, and returns the
// replica's admin URL.
func Require(tb testing.TB) string {
	tb.Helper()
	pgtest.Require(tb)
	return need(tb, "TEST_REPLICA_URL", "a streaming replica", "scripts/pg-replica up")
}

// need returns the URL in env when it is set and answers; otherwise it
// skips tb, or fails it under REQUIRE_REPLICA=1. (The Makefile sets the
// URLs by default, so a machine without the replica skips quickly.)
func need(tb testing.TB, env, what, script string) string {
	tb.Helper()
	u := os.Getenv(env)
	problem := env + " is not set"
	if u != "" {
		if err := ping(u); err != nil {
			problem = env + " does not answer: " + err.Error()
		} else {
			return u
		}
	}
	testkit.Unavailable(tb, "REQUIRE_REPLICA", fmt.Sprintf("%s (%s starts %s)", problem, script, what))
	return ""
}

func ping(u string) error {
	d, err := sql.Open("pgx", u)
	if err != nil {
		return err
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return d.PingContext(ctx)
}

// Pair is one fresh database, reachable on the primary and on the replica.
type Pair struct {
	Primary string // URL of the database on the primary
	Replica string // URL of the same database on the replica
	admin   *sql.DB
	replica *sql.DB
}

// Fresh locks the replica for this test, creates a database on the primary
// and waits until the replica has it.
func Fresh(tb testing.TB, prefix string) *Pair {
	tb.Helper()
	replicaAdmin := Require(tb)
	lock(tb)
	p := &Pair{Primary: pgtest.FreshDatabase(tb, prefix)}
	pu, err := url.Parse(p.Primary)
	if err != nil {
		tb.Fatal(err)
	}
	ru, err := url.Parse(replicaAdmin)
	if err != nil {
		tb.Fatal(err)
	}
	ru.Path = pu.Path
	p.Replica = ru.String()
	if p.admin, err = sql.Open("pgx", p.Primary); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.admin.Close() })
	if p.replica, err = sql.Open("pgx", p.Replica); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.replica.Close() })
	p.WaitReplayed(tb)
	return p
}

// lock takes the exclusive replica-test lock until tb ends.
func lock(tb testing.TB) {
	tb.Helper()
	// Advisory locks are per database: always take it in "postgres", so
	// runs against different test databases are serialised too.
	lu, err := url.Parse(os.Getenv("TEST_DATABASE_URL"))
	if err != nil {
		tb.Fatal(err)
	}
	lu.Path = "/postgres"
	admin, err := sql.Open("pgx", lu.String())
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := admin.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		tb.Fatalf("replica test lock: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", lockKey)
		_ = conn.Close()
		_ = admin.Close()
	})
}

// WaitReplayed waits until the replica has replayed everything the primary
// has written so far (and so has the database and its tables).
func (p *Pair) WaitReplayed(tb testing.TB) {
	tb.Helper()
	var target string
	if err := p.admin.QueryRow("SELECT pg_current_wal_lsn()::text").Scan(&target); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var done bool
		err := p.replica.QueryRow("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target).Scan(&done)
		if err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("replica did not replay up to %s within 30s (err %v)", target, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PauseReplay makes the replica lag: it keeps receiving WAL but applies
// none of it until ResumeReplay (or the end of the test).
func (p *Pair) PauseReplay(tb testing.TB) {
	tb.Helper()
	if _, err := p.replica.Exec("SELECT pg_wal_replay_pause()"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _, _ = p.replica.Exec("SELECT pg_wal_replay_resume()") })
}

// ResumeReplay lets the replica catch up again.
func (p *Pair) ResumeReplay(tb testing.TB) {
	tb.Helper()
	if _, err := p.replica.Exec("SELECT pg_wal_replay_resume()"); err != nil {
		tb.Fatal(err)
	}
}

// OnReplica runs a query on the replica directly and scans one row.
func (p *Pair) OnReplica(tb testing.TB, query string, dest ...any) {
	tb.Helper()
	if err := p.replica.QueryRow(query).Scan(dest...); err != nil {
		tb.Fatalf("on replica: %v", err)
	}
}

// HostPort is the replica's host:port (for a netproxy in front of it).
func (p *Pair) HostPort() string {
	u, _ := url.Parse(p.Replica)
	return u.Host
}

// Via returns the replica URL with its host:port replaced by addr.
func (p *Pair) Via(addr string) string {
	return strings.Replace(p.Replica, p.HostPort(), addr, 1)
}

// RequirePgBouncer returns TEST_PGBOUNCER_URL (scripts/pgbouncer up), or
// skips tb; REQUIRE_REPLICA=1 (CI) makes a missing PgBouncer a failure too.
func RequirePgBouncer(tb testing.TB) string {
	tb.Helper()
	pgtest.Require(tb)
	return need(tb, "TEST_PGBOUNCER_URL", "PgBouncer", "scripts/pgbouncer up")
}
