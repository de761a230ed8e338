package db

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"example.com/productapi/platform/config"
)

func openSQLite(t *testing.T) *DB {
	t.Helper()
	cfg := config.Defaults().Database
	cfg.SQLitePath = filepath.Join(t.TempDir(), "t.db")
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Gorm.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").Error; err != nil {
		t.Fatal(err)
	}
	return d
}

func count(t *testing.T, d *DB) int64 {
	var n int64
	if err := d.Gorm.Table("t").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTransactCommitsJoinsAndRunsAfterCommit(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	var order []string
	err := Transact(ctx, d.Gorm, func(ctx context.Context) error {
		if !InTx(ctx) {
			t.Fatal("no unit of work in ctx")
		}
		AfterCommit(ctx, func(context.Context) { order = append(order, "after") })
		if err := Conn(ctx, d.Gorm).Exec("INSERT INTO t (v) VALUES ('a')").Error; err != nil {
			return err
		}
		// A nested Transact (another module) joins the same transaction.
		return Transact(ctx, d.Gorm, func(ctx context.Context) error {
			order = append(order, "inner")
			return Conn(ctx, d.Gorm).Exec("INSERT INTO t (v) VALUES ('b')").Error
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, d); got != 2 {
		t.Fatalf("%d rows committed, want 2", got)
	}
	if len(order) != 2 || order[0] != "inner" || order[1] != "after" {
		t.Fatalf("order = %v, want after-commit hooks after the work", order)
	}
}

func TestTransactRollsBackEverythingAndSkipsHooks(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	boom := errors.New("boom")
	ran := false
	err := Transact(ctx, d.Gorm, func(ctx context.Context) error {
		AfterCommit(ctx, func(context.Context) { ran = true })
		if err := Conn(ctx, d.Gorm).Exec("INSERT INTO t (v) VALUES ('a')").Error; err != nil {
			return err
		}
		return Transact(ctx, d.Gorm, func(ctx context.Context) error { return boom })
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if got := count(t, d); got != 0 || ran {
		t.Fatalf("rows=%d hookRan=%v after rollback", got, ran)
	}
	// Outside a unit of work AfterCommit runs at once.
	AfterCommit(ctx, func(context.Context) { ran = true })
	if !ran {
		t.Fatal("AfterCommit without a transaction did not run")
	}
}
