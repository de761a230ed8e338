// Package app holds the products use cases: writes with optimistic
// concurrency, each committed with its audit record and event, and the
// reads. Caching is internal/cache's, around the Store.
package app

import (
	"context"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/events"
	"strings"
	"time"

	"example.com/productapi/modules/products"
	"example.com/productapi/modules/products/internal/store"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/ids"
	"example.com/productapi/platform/query"
)

// Store is what the use cases need of the products table. internal/cache
// provides it with cached reads and the invalidation writes need, so the
// use cases read and write as if there were no cache.
type Store interface {
	Transact(ctx context.Context, fn func(ctx context.Context) error) error
	ByID(ctx context.Context, id string, cols ...string) (store.Row, error)
	Create(ctx context.Context, r *store.Row) error
	Update(ctx context.Context, id string, expectVersion int64, changes map[string]any) (store.Row, error)
	Delete(ctx context.Context, id string, expectVersion int64) error

	Product(ctx context.Context, id string) (store.Entity, error)
	ProductView(ctx context.Context, id string, p query.Params) (store.View, error)
	Page(ctx context.Context, q store.PageQuery) (store.Page, error)
	List(ctx context.Context, q store.PageQuery, ks *query.Keyset) ([]store.Row, bool, error)

	Reservation(ctx context.Context, reservationID string) ([]store.ReservationLine, error)
	TakeStock(ctx context.Context, productID string, quantity int64) (bool, error)
	InsertReservation(ctx context.Context, lines []store.ReservationLine) error
	ReleaseReservation(ctx context.Context, reservationID string) ([]store.ReservationLine, error)
}

// Service implements the products use cases and products.Service.
type Service struct {
	store  Store
	events *events.Bus
	audit  *audit.Log
}

func New(st Store, bus *events.Bus, trail *audit.Log) *Service {
	return &Service{store: st, events: bus, audit: trail}
}

var _ products.Service = (*Service)(nil)

// Product returns a product's full representation.
func (s *Service) Product(ctx context.Context, id string) (store.Entity, error) {
	if !ids.Valid(id) {
		return store.Entity{}, products.ErrNotFound
	}
	e, err := s.store.Product(ctx, id)
	return e, unavailable(err)
}

// ProductView returns only the fields p names of a product.
func (s *Service) ProductView(ctx context.Context, id string, p query.Params) (store.View, error) {
	if !ids.Valid(id) {
		return store.View{}, products.ErrNotFound
	}
	v, err := s.store.ProductView(ctx, id, p)
	return v, unavailable(err)
}

// Get implements products.Service for other modules.
func (s *Service) Get(ctx context.Context, id string) (products.Product, error) {
	e, err := s.Product(ctx, id)
	return e.Product, err
}

// Page returns one list page.
func (s *Service) Page(ctx context.Context, q store.PageQuery) (store.Page, error) {
	page, err := s.store.Page(ctx, q)
	return page, unavailable(err)
}

// ListPage runs the keyset query of a list page for every caller outside
// the search rollout, without cache or rendering (benchmarks measure the
// cost of depth with it).
func (s *Service) ListPage(ctx context.Context, p query.Params, ks *query.Keyset) ([]store.Row, bool, error) {
	return s.store.List(ctx, store.PageQuery{Params: p}, ks)
}

// unavailable keeps typed errors (a bad cursor is still a 400) and turns
// store failures into a 503 the client may retry.
func unavailable(err error) error {
	if err == nil || apperr.KindOf(err) != apperr.KindInternal {
		return err
	}
	return apperr.Unavailable("products.unavailable", "the catalogue is temporarily unavailable", 5*time.Second).Wrap(err)
}

// Input is a product creation.
type Input struct {
	SKU, Name, Description, Currency, Category string
	PriceCents, Stock                          int64
}

// Create adds a product. Like every admin write it commits together with
// its audit record and its products.product_changed.v1 event.
func (s *Service) Create(ctx context.Context, in Input) (store.Row, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	row := store.Row{ID: ids.New(), SKU: in.SKU, Name: strings.TrimSpace(in.Name), Description: in.Description,
		PriceCents: in.PriceCents, Currency: strings.ToUpper(in.Currency), Stock: in.Stock, Category: in.Category,
		Version: 1, CreatedAt: now, UpdatedAt: now}
	err := s.store.Transact(ctx, func(ctx context.Context) error {
		if err := s.store.Create(ctx, &row); err != nil {
			return err
		}
		return s.recordChange(ctx, "created", nil, &row)
	})
	return row, err
}

// Update applies a partial update (column -> value) with optional If-Match.
func (s *Service) Update(ctx context.Context, id string, expectVersion int64, changes map[string]any) (store.Row, error) {
	if !ids.Valid(id) {
		return store.Row{}, products.ErrNotFound
	}
	var row store.Row
	err := s.store.Transact(ctx, func(ctx context.Context) error {
		before, err := s.store.ByID(ctx, id)
		if err != nil {
			return err
		}
		if row, err = s.store.Update(ctx, id, expectVersion, changes); err != nil {
			return err
		}
		return s.recordChange(ctx, "updated", &before, &row)
	})
	return row, err
}

// Delete removes a product with optional If-Match.
func (s *Service) Delete(ctx context.Context, id string, expectVersion int64) error {
	if !ids.Valid(id) {
		return products.ErrNotFound
	}
	err := s.store.Transact(ctx, func(ctx context.Context) error {
		before, err := s.store.ByID(ctx, id)
		if err != nil {
			return err
		}
		if err := s.store.Delete(ctx, id, expectVersion); err != nil {
			return err
		}
		return s.recordChange(ctx, "deleted", &before, nil)
	})
	return err
}

// recordChange appends the audit record and the event inside the write's
// unit of work: both exist exactly when the change does.
func (s *Service) recordChange(ctx context.Context, change string, before, after *store.Row) error {
	var beforeView, afterView any
	if before != nil {
		beforeView = before.ToProduct()
	}
	ev := products.ProductChangedV1{Change: change, ChangedAt: time.Now().UTC()}
	if after != nil {
		afterView = after.ToProduct()
		ev.ProductID, ev.Version, ev.SKU, ev.Name, ev.Currency = after.ID, after.Version, after.SKU, after.Name, after.Currency
		ev.PriceCents, ev.Stock, ev.Category = &after.PriceCents, &after.Stock, &after.Category
	} else {
		ev.ProductID = before.ID
	}
	if err := s.audit.Record(ctx, audit.Entry{Action: "products." + strings.TrimSuffix(change, "d"), TargetType: "product",
		TargetID: ev.ProductID, Before: beforeView, After: afterView}); err != nil {
		return err
	}
	_, err := s.events.Append(ctx, products.EventProductChanged, ev.ProductID, ev)
	return err
}
