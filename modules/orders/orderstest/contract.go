package orderstest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"example.com/productapi/modules/orders"
	"example.com/productapi/platform/ids"
)

// Subject is one implementation of orders.Service under test, and how to
// place orders in it.
type Subject struct {
	Service orders.Service
	// Place checks out items for userID, each priced by the catalogue at
	// the item's UnitPriceCents in currency EUR, and returns the order ID.
	Place func(t *testing.T, userID string, items []orders.Item) string
}

// RunServiceContract checks the observable behaviour of orders.Service
// that callers rely on. newSubject returns a fresh subject without orders
// per case.
func RunServiceContract(t *testing.T, newSubject func(t *testing.T) Subject) {
	ctx := context.Background()
	lamp := orders.Item{ProductID: ids.New(), SKU: "LAMP-1", Name: "Lamp", UnitPriceCents: 1250, Quantity: 2}
	kettle := orders.Item{ProductID: ids.New(), SKU: "KETTLE-1", Name: "Kettle", UnitPriceCents: 3000, Quantity: 1}
	sameItems := func(got, want []orders.Item) bool {
		byProduct := func(a, b orders.Item) int { return strings.Compare(a.ProductID, b.ProductID) }
		got, want = slices.Clone(got), slices.Clone(want)
		slices.SortFunc(got, byProduct)
		slices.SortFunc(want, byProduct)
		return slices.Equal(got, want)
	}

	t.Run("Get returns a placed order with its items", func(t *testing.T) {
		s := newSubject(t)
		user := ids.New()
		id := s.Place(t, user, []orders.Item{lamp, kettle})
		o, err := s.Service.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if o.ID != id || o.UserID != user || o.Status != orders.StatusPending || o.TotalCents != 2*1250+3000 ||
			o.Currency != "EUR" || o.CreatedAt.IsZero() {
			t.Errorf("Get = %+v, want user %s's pending order of 5500 EUR", o, user)
		}
		if !sameItems(o.Items, []orders.Item{lamp, kettle}) {
			t.Errorf("items = %+v, want %+v", o.Items, []orders.Item{lamp, kettle})
		}
	})

	t.Run("Get of an unknown ID is ErrNotFound", func(t *testing.T) {
		s := newSubject(t)
		s.Place(t, ids.New(), []orders.Item{lamp})
		for _, id := range []string{ids.New(), "not-an-id"} {
			if _, err := s.Service.Get(ctx, id); !errors.Is(err, orders.ErrNotFound) {
				t.Errorf("Get(%q) err = %v, want orders.ErrNotFound", id, err)
			}
		}
	})

	t.Run("ListForUser lists one user's orders, oldest first, with items", func(t *testing.T) {
		s := newSubject(t)
		ann, bob := ids.New(), ids.New()
		first := s.Place(t, ann, []orders.Item{lamp})
		s.Place(t, bob, []orders.Item{kettle})
		second := s.Place(t, ann, []orders.Item{kettle, lamp})
		list, err := s.Service.ListForUser(ctx, ann)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != first || list[1].ID != second {
			t.Fatalf("ListForUser = %+v, want [%s %s]", list, first, second)
		}
		if !sameItems(list[0].Items, []orders.Item{lamp}) || !sameItems(list[1].Items, []orders.Item{kettle, lamp}) {
			t.Errorf("items = %+v / %+v", list[0].Items, list[1].Items)
		}
		if none, err := s.Service.ListForUser(ctx, ids.New()); err != nil || len(none) != 0 {
			t.Errorf("ListForUser of a user without orders = %+v, %v; want none", none, err)
		}
	})
}
