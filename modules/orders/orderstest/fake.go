// Package orderstest holds an in-memory fake of orders.Service, for peers'
// tests, and the contract suite every implementation of that Service must
// pass (the real one in ordersimpl, this fake, later an HTTP client).
package orderstest

import (
	"context"
	"slices"
	"sync"
	"time"

	"example.com/productapi/modules/orders"
	"example.com/productapi/platform/ids"
)

// Fake is an in-memory orders.Service, safe for concurrent use. The zero
// value is not usable: call NewFake.
type Fake struct {
	mu     sync.Mutex
	orders []orders.Order // in placing order
}

var _ orders.Service = (*Fake)(nil)

// NewFake returns a fake without orders.
func NewFake() *Fake { return &Fake{} }

// Place records a pending order of userID for items (priced as given) in
// currency and returns it.
func (f *Fake) Place(userID, currency string, items []orders.Item) orders.Order {
	now := time.Now().UTC()
	o := orders.Order{ID: ids.New(), UserID: userID, Status: orders.StatusPending, Currency: currency,
		Items: slices.Clone(items), CreatedAt: now, UpdatedAt: now}
	for _, it := range items {
		o.TotalCents += it.UnitPriceCents * it.Quantity
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders = append(f.orders, o)
	return o
}

// Get implements orders.Service.
func (f *Fake) Get(_ context.Context, id string) (orders.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.orders {
		if o.ID == id {
			o.Items = slices.Clone(o.Items)
			return o, nil
		}
	}
	return orders.Order{}, orders.ErrNotFound
}

// ListForUser implements orders.Service.
func (f *Fake) ListForUser(_ context.Context, userID string) ([]orders.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []orders.Order{}
	for _, o := range f.orders {
		if o.UserID == userID {
			o.Items = slices.Clone(o.Items)
			out = append(out, o)
		}
	}
	return out, nil
}
