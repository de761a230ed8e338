// Package productstest holds an in-memory fake of products.Service, for
// peers' tests, and the contract suite every implementation of that
// Service must pass (the real one in productsimpl, this fake, later an
// HTTP client).
package productstest

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"example.com/productapi/modules/products/internal/reservation"

	"example.com/productapi/modules/products"
	"example.com/productapi/platform/ids"
)

// Fake is an in-memory products.Service with the contract's semantics
// (all-or-nothing, idempotent reservations; once-only releases). It is
// safe for concurrent use. The zero value is not usable: call NewFake.
type Fake struct {
	mu           sync.Mutex
	products     map[string]products.Product
	reservations map[string][]products.ReservedLine
	released     map[string]bool
}

var _ products.Service = (*Fake)(nil)

// NewFake returns an empty catalogue.
func NewFake() *Fake {
	return &Fake{products: map[string]products.Product{}, reservations: map[string][]products.ReservedLine{},
		released: map[string]bool{}}
}

// Add puts p in the catalogue (a new ID when p has none) and returns it as
// stored.
func (f *Fake) Add(p products.Product) products.Product {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().UTC()
	p.ID = cmp.Or(p.ID, ids.New())
	p.Currency = strings.ToUpper(p.Currency)
	p.CreatedAt, p.UpdatedAt = now, now
	f.products[p.ID] = p
	return p
}

// Get implements products.Service.
func (f *Fake) Get(_ context.Context, id string) (products.Product, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.products[id]
	if !ok {
		return products.Product{}, products.ErrNotFound
	}
	return p, nil
}

// Reserve implements products.Service.
func (f *Fake) Reserve(_ context.Context, reservationID string, lines []products.Line) ([]products.ReservedLine, error) {
	merged, err := reservation.MergeLines(lines)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if existing, ok := f.reservations[reservationID]; ok {
		return slices.Clone(existing), nil
	}
	out := make([]products.ReservedLine, 0, len(merged))
	for _, l := range merged { // check everything before taking anything
		p, ok := f.products[l.ProductID]
		switch {
		case !ok:
			return nil, products.ErrUnknownProduct.WithMessage("product %s does not exist", l.ProductID)
		case p.Stock < l.Quantity:
			return nil, products.ErrInsufficientStock.WithMessage("not enough stock for product %s (%s): %d requested", p.ID, p.SKU, l.Quantity)
		case len(out) > 0 && out[0].Currency != p.Currency:
			return nil, products.ErrMixedCurrency
		}
		out = append(out, products.ReservedLine{ProductID: p.ID, SKU: p.SKU, Name: p.Name, UnitPriceCents: p.PriceCents,
			Currency: p.Currency, Quantity: l.Quantity})
	}
	for _, l := range out {
		p := f.products[l.ProductID]
		p.Stock -= l.Quantity
		f.products[l.ProductID] = p
	}
	f.reservations[reservationID] = out
	return slices.Clone(out), nil
}

// Release implements products.Service.
func (f *Fake) Release(_ context.Context, reservationID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lines, ok := f.reservations[reservationID]
	if !ok || f.released[reservationID] {
		return false, nil
	}
	f.released[reservationID] = true
	for _, l := range lines {
		if p, ok := f.products[l.ProductID]; ok {
			p.Stock += l.Quantity
			f.products[l.ProductID] = p
		}
	}
	return true, nil
}
