package ordersimpl

import (
	"context"
	"strings"
	"testing"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/internal/domain"
	"example.com/productapi/modules/orders/orderstest"
	"example.com/productapi/modules/products"
	"example.com/productapi/modules/products/productstest"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/ids"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/testkit/dbtest"
)

// newModule builds the module alone on d, with the products fake as its
// catalogue (the bus is not started: events stay in the outbox).
func newModule(t *testing.T, d *db.DB, catalogue products.Service) *Module {
	t.Helper()
	bus, err := events.New(events.Config{DB: d.Gorm, Postgres: d.Dialect == db.Postgres})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Deps{DB: d.Gorm, Postgres: d.Dialect == db.Postgres, Products: catalogue, Events: bus,
		Cursors: query.NewCodec([]byte("test-cursor-secret-0123456789abcdef"))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestServiceHonoursTheContract(t *testing.T) {
	for _, st := range dbtest.Stores(t, "events", "audit", "orders") {
		t.Run(st.Name, func(t *testing.T) {
			orderstest.RunServiceContract(t, func(t *testing.T) orderstest.Subject {
				catalogue := productstest.NewFake()
				m := newModule(t, st.Open(t), catalogue)
				return orderstest.Subject{Service: m.Service(), Place: func(t *testing.T, userID string, items []orders.Item) string {
					lines := make([]domain.Line, len(items))
					for i, it := range items {
						if _, err := catalogue.Get(context.Background(), it.ProductID); err != nil {
							catalogue.Add(products.Product{ID: it.ProductID, SKU: it.SKU, Name: it.Name,
								PriceCents: it.UnitPriceCents, Currency: "EUR", Stock: 1000})
						}
						lines[i] = domain.Line{ProductID: it.ProductID, Quantity: it.Quantity}
					}
					placed, err := m.svc.Place(context.Background(), userID, ids.New(), lines)
					if err != nil {
						t.Fatal(err)
					}
					return placed.OrderID
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
	for _, dep := range []string{"DB", "Products", "Events", "Cursors"} {
		if !strings.Contains(err.Error(), "Deps."+dep+" is required") {
			t.Errorf("error %q does not name Deps.%s", err, dep)
		}
	}
}
