package productstest

import (
	"context"
	"errors"
	"testing"

	"example.com/productapi/modules/products"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/ids"
)

// Subject is one implementation of products.Service under test, and how to
// stock its catalogue.
type Subject struct {
	Service products.Service
	// Add puts a product in the catalogue (as an admin would: the ID is
	// the implementation's) and returns it as stored.
	Add func(t *testing.T, p products.Product) products.Product
}

// RunServiceContract checks the observable behaviour of products.Service
// that callers rely on. newSubject returns a fresh, empty catalogue per
// case.
func RunServiceContract(t *testing.T, newSubject func(t *testing.T) Subject) {
	ctx := context.Background()
	stocked := func(t *testing.T) (Subject, products.Product, products.Product) {
		s := newSubject(t)
		lamp := s.Add(t, products.Product{SKU: "LAMP-1", Name: "Lamp", Description: "bright", PriceCents: 1250,
			Currency: "EUR", Stock: 10, Category: "home"})
		kettle := s.Add(t, products.Product{SKU: "KETTLE-1", Name: "Kettle", PriceCents: 3000, Currency: "EUR",
			Stock: 3, Category: "kitchen"})
		return s, lamp, kettle
	}
	stockOf := func(t *testing.T, s Subject, id string) int64 {
		t.Helper()
		p, err := s.Service.Get(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return p.Stock
	}
	wantStock := func(t *testing.T, s Subject, want map[string]int64) {
		t.Helper()
		for id, n := range want {
			if got := stockOf(t, s, id); got != n {
				t.Errorf("stock of %s = %d, want %d", id, got, n)
			}
		}
	}

	t.Run("Get returns the stored product", func(t *testing.T) {
		s, lamp, _ := stocked(t)
		got, err := s.Service.Get(ctx, lamp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != lamp.ID || got.SKU != "LAMP-1" || got.Name != "Lamp" || got.Description != "bright" ||
			got.PriceCents != 1250 || got.Currency != "EUR" || got.Stock != 10 || got.Category != "home" {
			t.Errorf("Get = %+v, want the added %+v", got, lamp)
		}
	})

	t.Run("Get of an unknown ID is ErrNotFound", func(t *testing.T) {
		s := newSubject(t)
		for _, id := range []string{ids.New(), "not-an-id"} {
			if _, err := s.Service.Get(ctx, id); !errors.Is(err, products.ErrNotFound) {
				t.Errorf("Get(%q) err = %v, want products.ErrNotFound", id, err)
			}
		}
	})

	t.Run("Reserve prices from the catalogue and takes stock", func(t *testing.T) {
		s, lamp, kettle := stocked(t)
		got, err := s.Service.Reserve(ctx, ids.New(), []products.Line{{ProductID: lamp.ID, Quantity: 2},
			{ProductID: kettle.ID, Quantity: 1}, {ProductID: lamp.ID, Quantity: 1}})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]products.ReservedLine{}
		for _, l := range got {
			byID[l.ProductID] = l
		}
		want := map[string]products.ReservedLine{
			lamp.ID: {ProductID: lamp.ID, SKU: "LAMP-1", Name: "Lamp", UnitPriceCents: 1250, Currency: "EUR", Quantity: 3},
			kettle.ID: {ProductID: kettle.ID, SKU: "KETTLE-1", Name: "Kettle", UnitPriceCents: 3000, Currency: "EUR",
				Quantity: 1},
		}
		if len(got) != 2 || byID[lamp.ID] != want[lamp.ID] || byID[kettle.ID] != want[kettle.ID] {
			t.Errorf("Reserve = %+v, want one merged line per product %+v", got, want)
		}
		wantStock(t, s, map[string]int64{lamp.ID: 7, kettle.ID: 2})
	})

	t.Run("Reserve is idempotent per reservation ID", func(t *testing.T) {
		s, lamp, kettle := stocked(t)
		id := ids.New()
		first, err := s.Service.Reserve(ctx, id, []products.Line{{ProductID: lamp.ID, Quantity: 4}})
		if err != nil {
			t.Fatal(err)
		}
		// Even with other lines, the same ID answers the first result.
		again, err := s.Service.Reserve(ctx, id, []products.Line{{ProductID: kettle.ID, Quantity: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != 1 || again[0] != first[0] {
			t.Errorf("second Reserve = %+v, want the first %+v", again, first)
		}
		wantStock(t, s, map[string]int64{lamp.ID: 6, kettle.ID: 3})
	})

	t.Run("Reserve is all or nothing", func(t *testing.T) {
		s, lamp, kettle := stocked(t)
		usd := s.Add(t, products.Product{SKU: "USD-1", Name: "Import", PriceCents: 100, Currency: "USD", Stock: 5})
		for _, c := range []struct {
			name  string
			lines []products.Line
			want  error
		}{
			{"insufficient stock", []products.Line{{ProductID: lamp.ID, Quantity: 1}, {ProductID: kettle.ID, Quantity: 4}},
				products.ErrInsufficientStock},
			{"unknown product", []products.Line{{ProductID: lamp.ID, Quantity: 1}, {ProductID: ids.New(), Quantity: 1}},
				products.ErrUnknownProduct},
			{"malformed product ID", []products.Line{{ProductID: "nope", Quantity: 1}}, products.ErrUnknownProduct},
			{"mixed currency", []products.Line{{ProductID: lamp.ID, Quantity: 1}, {ProductID: usd.ID, Quantity: 1}},
				products.ErrMixedCurrency},
		} {
			t.Run(c.name, func(t *testing.T) {
				if _, err := s.Service.Reserve(ctx, ids.New(), c.lines); !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want %v", err, c.want)
				}
				wantStock(t, s, map[string]int64{lamp.ID: 10, kettle.ID: 3, usd.ID: 5})
			})
		}
	})

	t.Run("Reserve refuses empty and non-positive lines as invalid", func(t *testing.T) {
		s, lamp, _ := stocked(t)
		for _, lines := range [][]products.Line{nil, {{ProductID: lamp.ID, Quantity: 0}}, {{ProductID: lamp.ID, Quantity: -1}}} {
			if _, err := s.Service.Reserve(ctx, ids.New(), lines); apperr.KindOf(err) != apperr.KindValidation {
				t.Errorf("Reserve(%v) err = %v, want a validation error", lines, err)
			}
		}
		wantStock(t, s, map[string]int64{lamp.ID: 10})
	})

	t.Run("Release returns the stock once", func(t *testing.T) {
		s, lamp, kettle := stocked(t)
		id := ids.New()
		if _, err := s.Service.Reserve(ctx, id, []products.Line{{ProductID: lamp.ID, Quantity: 5},
			{ProductID: kettle.ID, Quantity: 3}}); err != nil {
			t.Fatal(err)
		}
		wantStock(t, s, map[string]int64{lamp.ID: 5, kettle.ID: 0})
		for i, want := range []bool{true, false} {
			released, err := s.Service.Release(ctx, id)
			if err != nil || released != want {
				t.Fatalf("Release #%d = %v, %v; want %v", i+1, released, err, want)
			}
			wantStock(t, s, map[string]int64{lamp.ID: 10, kettle.ID: 3})
		}
		// A reservation that never existed releases nothing.
		if released, err := s.Service.Release(ctx, ids.New()); err != nil || released {
			t.Errorf("Release of an unknown reservation = %v, %v; want false", released, err)
		}
	})
}
