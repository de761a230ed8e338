package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/db"
)

// The database itself refuses to rewrite history.
func TestAppendOnly(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			d := st.Open(t)
			log := audit.New(d.Gorm)
			if err := log.Record(context.Background(), audit.Entry{Action: "flags.update", TargetType: "flag", TargetID: "k", ActorID: "a"}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stmts := []string{"UPDATE audit_log SET actor_id = 'mallory'", "DELETE FROM audit_log"}
			if d.Dialect == db.Postgres {
				stmts = append(stmts, "TRUNCATE audit_log")
			}
			for _, s := range stmts {
				if _, err := d.SQL.ExecContext(ctx, s); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Fatalf("%s: %v", s, err)
				}
			}
			var n int
			var actor string
			if err := d.SQL.QueryRowContext(ctx, "SELECT count(*), min(actor_id) FROM audit_log").Scan(&n, &actor); err != nil || n != 1 || actor != "a" {
				t.Fatalf("%d %q %v", n, actor, err)
			}
		})
	}
}
