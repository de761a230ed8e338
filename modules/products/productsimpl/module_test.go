package productsimpl

import (
	"context"
	"strings"
	"testing"

	"example.com/productapi/modules/products"
	"example.com/productapi/modules/products/internal/app"
	"example.com/productapi/modules/products/productstest"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/cache"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/testkit/dbtest"
)

// newModule builds the module alone on d, with the platform parts it needs
// (no Redis: the cache is in-process).
func newModule(t testing.TB, d *db.DB) *Module {
	t.Helper()
	c, err := cache.New(cache.Config{Namespace: "test"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	bus, err := events.New(events.Config{DB: d.Gorm, Postgres: d.Dialect == db.Postgres})
	if err != nil {
		t.Fatal(err)
	}
	cursors := query.NewCodec([]byte("test-cursor-secret-0123456789abcdef"))
	m, err := New(Deps{DB: d.Gorm, Postgres: d.Dialect == db.Postgres, Cache: c, Cursors: cursors, Events: bus,
		Audit: audit.New(d.Gorm)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestServiceHonoursTheContract(t *testing.T) {
	for _, st := range dbtest.Stores(t, "events", "audit", "products") {
		t.Run(st.Name, func(t *testing.T) {
			productstest.RunServiceContract(t, func(t *testing.T) productstest.Subject {
				m := newModule(t, st.Open(t))
				return productstest.Subject{Service: m.Service(), Add: func(t *testing.T, p products.Product) products.Product {
					row, err := m.svc.Create(context.Background(), app.Input{SKU: p.SKU, Name: p.Name, Description: p.Description,
						Currency: p.Currency, Category: p.Category, PriceCents: p.PriceCents, Stock: p.Stock})
					if err != nil {
						t.Fatal(err)
					}
					return row.ToProduct()
				}}
			})
		})
	}
}

func TestNewNamesEveryMissingDependency(t *testing.T) {
	_, err := New(Deps{})
	if err == nil {
		t.Fatal("New without dependencies succeeded")
	}
	for _, dep := range []string{"DB", "Cache", "Cursors", "Events", "Audit"} {
		if !strings.Contains(err.Error(), "Deps."+dep+" is required") {
			t.Errorf("error %q does not name Deps.%s", err, dep)
		}
	}
}
