package app

// The observable state for the contract fuzz suite: every row of every
// table, read through the application's own database handle. New tables are
// compared automatically; only what background work changes on its own is
// left out (fzVolatile*), each with the reason.
//
// Reading every table after every request would cost more than the
// requests, so the test installs triggers that count writes to the compared
// tables and columns (fz_changes): while the count stands still, the last
// snapshot is still the state; when it moves, a new snapshot says what
// changed (a count that moved for nothing, e.g. a rolled-back Postgres
// sequence step or an UPDATE of no rows, only costs a snapshot).

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// fzVolatileTables change without a request: the event bus's delivery
// bookkeeping and a read model fed from events. The events themselves
// (event_outbox) are compared: a refused request must not append one.
var fzVolatileTables = map[string]string{
	"event_deliveries":       "the relay's pending work, created and removed by background delivery",
	"event_inbox":            "consumers record handled events in the background",
	"order_sales_by_product": "read model rebuilt in the background from event_outbox (which is compared)",
}

// fzVolatileColumns change on purpose when a request is refused, or in the
// background.
var fzVolatileColumns = map[string]map[string]string{
	"event_outbox": {"published_at": "set by the relay in the background"},
	"user_mfa": {
		"failed_attempts": "a wrong second-factor code is refused and counted: the brute-force lock (429 after 5)",
		"failed_at":       "as failed_attempts",
	},
}

// fzSnapshot is the rows of each table, as sorted text lines.
type fzSnapshot map[string][]string

type fzState struct {
	t        *testing.T
	db       *gorm.DB
	kind     storeKind
	tables   []string
	last     *fzSnapshot // the state now, while the write count stays lastMark
	lastMark int64
}

func newFzState(t *testing.T, db *gorm.DB, kind storeKind) *fzState {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if kind == postgresStore {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`
	}
	var tables []string
	if err := db.Raw(q).Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	kept := tables[:0]
	for _, name := range tables {
		if _, skip := fzVolatileTables[name]; !skip {
			kept = append(kept, name)
		}
	}
	sort.Strings(kept)
	if len(kept) < 10 {
		t.Fatalf("only %d tables found: %v", len(kept), kept)
	}
	s := &fzState{t: t, db: db, kind: kind, tables: kept}
	s.countWrites()
	return s
}

// countWrites installs the write-counting triggers on the compared tables.
func (s *fzState) countWrites() {
	s.t.Helper()
	exec := func(q string) {
		if err := s.db.Exec(q).Error; err != nil {
			s.t.Fatalf("%s: %v", q, err)
		}
	}
	if s.kind == postgresStore {
		// A sequence, not a counter row: a row would serialise (and could
		// deadlock) the service's concurrent transactions.
		exec(`CREATE SEQUENCE fz_changes`)
		exec(`CREATE FUNCTION fz_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('fz_changes'); RETURN NULL; END $$`)
	} else {
		exec(`CREATE TABLE fz_changes (n integer NOT NULL)`)
		exec(`INSERT INTO fz_changes (n) VALUES (0)`)
	}
	for _, table := range s.tables {
		rows, err := s.db.Raw(`SELECT * FROM "` + table + `" WHERE 1 = 0`).Rows()
		if err != nil {
			s.t.Fatal(err)
		}
		cols, err := rows.Columns()
		_ = rows.Close()
		if err != nil {
			s.t.Fatal(err)
		}
		var compared []string
		for _, c := range cols {
			if _, skip := fzVolatileColumns[table][c]; !skip {
				compared = append(compared, `"`+c+`"`)
			}
		}
		of := strings.Join(compared, ", ")
		if s.kind == postgresStore {
			exec(fmt.Sprintf(`CREATE TRIGGER fz_count AFTER INSERT OR DELETE OR UPDATE OF %s ON "%s" FOR EACH STATEMENT EXECUTE FUNCTION fz_count()`, of, table))
			continue
		}
		for _, ev := range []string{"INSERT", "DELETE", "UPDATE OF " + of} {
			exec(fmt.Sprintf(`CREATE TRIGGER "fz_count_%s_%s" AFTER %s ON "%s" BEGIN UPDATE fz_changes SET n = n + 1; END`,
				table, strings.Fields(ev)[0], ev, table))
		}
	}
}

// mark is the write count.
func (s *fzState) mark() int64 {
	s.t.Helper()
	q := `SELECT n FROM fz_changes`
	if s.kind == postgresStore {
		q = `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM fz_changes`
	}
	var n int64
	if err := s.db.Raw(q).Scan(&n).Error; err != nil {
		s.t.Fatal(err)
	}
	return n
}

// invalidate forgets the last snapshot: something changed the state.
func (s *fzState) invalidate() { s.last = nil }

// before is the state before a request: the last snapshot when nothing
// changed since, else a new one once background work has settled.
func (s *fzState) before() *fzSnapshot {
	if s.last == nil {
		s.settle()
		s.lastMark = s.mark()
		snap := s.take()
		s.last = &snap
	}
	return s.last
}

// after is the state after a request; it becomes the next request's before.
func (s *fzState) after() *fzSnapshot {
	if m := s.mark(); m != s.lastMark || s.last == nil {
		s.lastMark = m
		snap := s.take()
		s.last = &snap
	}
	return s.last
}

// settle waits until no event is unpublished or undelivered and no order
// waits for its (simulated) payment: then only requests change the state.
func (s *fzState) settle() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var busy int64
		err := s.db.Raw(`SELECT (SELECT count(*) FROM event_outbox WHERE published_at IS NULL)
 + (SELECT count(*) FROM event_deliveries) + (SELECT count(*) FROM orders WHERE status = 'pending')`).Scan(&busy).Error
		if err != nil {
			s.t.Fatal(err)
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("background work did not settle within a minute (%d events or orders pending)", busy)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *fzState) take() fzSnapshot {
	s.t.Helper()
	snap := fzSnapshot{}
	for _, table := range s.tables {
		rows, err := s.db.Raw(`SELECT * FROM "` + table + `"`).Rows()
		if err != nil {
			s.t.Fatalf("snapshot %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			s.t.Fatal(err)
		}
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				s.t.Fatal(err)
			}
			var b strings.Builder
			for i, c := range cols {
				if _, skip := fzVolatileColumns[table][c]; skip {
					continue
				}
				fmt.Fprintf(&b, "%s=%s ", c, fzCell(vals[i]))
			}
			lines = append(lines, b.String())
		}
		if err := rows.Err(); err != nil {
			s.t.Fatal(err)
		}
		_ = rows.Close()
		sort.Strings(lines)
		snap[table] = lines
	}
	return snap
}

func fzCell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return fmt.Sprintf("%q", x)
	case string:
		return fmt.Sprintf("%q", x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// fzDiff describes what changed between two snapshots ("" when nothing).
func fzDiff(a, b *fzSnapshot) string {
	if a == b {
		return ""
	}
	var out []string
	for _, table := range oaSortedKeys(*b) {
		before, after := (*a)[table], (*b)[table]
		gone, added := fzMinus(before, after), fzMinus(after, before)
		if len(gone) == 0 && len(added) == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("table %s: %d rows -> %d", table, len(before), len(after)))
		for i, l := range gone {
			if i == 3 {
				out = append(out, fmt.Sprintf("  ... %d more removed or changed", len(gone)-3))
				break
			}
			out = append(out, "  - "+fzClip(l, 300))
		}
		for i, l := range added {
			if i == 3 {
				out = append(out, fmt.Sprintf("  ... %d more added or changed", len(added)-3))
				break
			}
			out = append(out, "  + "+fzClip(l, 300))
		}
	}
	return strings.Join(out, "\n")
}

// fzMinus is the lines of a not in b (both sorted).
func fzMinus(a, b []string) []string {
	var out []string
	j := 0
	for _, l := range a {
		for j < len(b) && b[j] < l {
			j++
		}
		if j < len(b) && b[j] == l {
			j++
			continue
		}
		out = append(out, l)
	}
	return out
}

func fzClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d bytes)", len(s))
}
