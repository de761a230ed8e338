package productsimpl

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"gorm.io/gorm"

	"example.com/productapi/modules/products/internal/httpapi"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/testkit/dbtest"
)

// List benchmarks: the store's real keyset query for page 1 and for the
// last page (page 5,000 of 100,000 rows at limit=20), through the use
// case's ListPage, i.e. the list cache's miss path without the cache
// (served from cache, both pages cost the same trivially). What they show
// is that depth does not cost: the ratio should be about 1. scripts/bench.sh
// does the same on Postgres (SQL and HTTP). Each seeds its own 100,000 rows
// on SQLite: a few seconds of setup, run once per benchmark (b.Loop).
const (
	listRows  = 100_000
	listLimit = 20
)

func listFixture(b *testing.B) (*Module, *gorm.DB, query.Params) {
	b.Helper()
	d := dbtest.SQLite(b, "events", "audit", "products")
	m := newModule(b, d)
	if err := m.Seeder().Seed(context.Background(), listRows, 1000, func(int) {}); err != nil {
		b.Fatal(err)
	}
	p, err := query.Parse(httpapi.ListSpec, url.Values{"limit": {strconv.Itoa(listLimit)}})
	if err != nil {
		b.Fatal(err)
	}
	return m, d.Gorm, p
}

func benchListPage(b *testing.B, m *Module, p query.Params, ks *query.Keyset) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rows, _, err := m.svc.ListPage(ctx, p, ks)
		if err != nil || len(rows) != listLimit {
			b.Fatalf("page: %d rows, %v", len(rows), err)
		}
	}
}

func BenchmarkListFirstPage(b *testing.B) {
	m, _, p := listFixture(b)
	benchListPage(b, m, p, nil)
}

func BenchmarkListDeepPage(b *testing.B) {
	m, gdb, p := listFixture(b)
	// The position a client holds after walking to the last page: the
	// keyset of the row just before it in -created_at order.
	var pos struct {
		CreatedAt time.Time
		ID        string
	}
	if err := gdb.Raw("SELECT created_at, id FROM products ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
		listRows-listLimit-1).Scan(&pos).Error; err != nil || pos.ID == "" {
		b.Fatalf("deep position: %+v %v", pos, err)
	}
	benchListPage(b, m, p, &query.Keyset{Value: pos.CreatedAt.UTC(), ID: pos.ID})
}
