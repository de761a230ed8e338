// Package cache is the products read path's caching layer: a decorator
// around the store that serves Product, ProductView and Page through
// platform/cache (L1 in process, L2 in Redis) and invalidates precisely
// after every write commits. The use cases call it as they would call the
// store and know nothing of keys, versions or invalidation.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"example.com/productapi/modules/products"
	"example.com/productapi/modules/products/internal/store"
	"example.com/productapi/platform/apperr"
	pcache "example.com/productapi/platform/cache"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/query"
)

// listNamespace versions every cached list page and sparse view: any write
// bumps it, because a changed product can move into or out of any list.
const listNamespace = "products:lists"

// raceWindow bounds how long a read that started before a write may run.
const raceWindow = 500 * time.Millisecond

// Store is the store with cached reads. Methods it does not override (ByID,
// Transact, ...) go to the database directly: writes read their before
// image there, never from the cache.
type Store struct {
	*store.Store
	cache    *pcache.Cache
	entities *pcache.Typed[store.Entity]
	views    *pcache.Typed[store.View]
	pages    *pcache.Typed[store.Page]
	log      *slog.Logger
}

func New(st *store.Store, c *pcache.Cache, log *slog.Logger) *Store {
	return &Store{Store: st, cache: c, log: log, entities: pcache.NewTyped[store.Entity](c),
		views: pcache.NewTyped[store.View](c), pages: pcache.NewTyped[store.Page](c)}
}

// entityKey is the cache key of a product's full representation.
func entityKey(id string) string { return "products:e:" + id }

// Product is store.Product through the cache; a missing product is
// cached briefly too.
func (s *Store) Product(ctx context.Context, id string) (store.Entity, error) {
	res, err := s.entities.GetOrLoad(ctx, entityKey(id), func(ctx context.Context) (store.Entity, bool, error) {
		return found(s.Store.Product(ctx, id))
	})
	if err != nil || !res.Found {
		return store.Entity{}, orNotFound(err)
	}
	res.Value.Staleness = staleness(res)
	return res.Value, nil
}

// ProductView is store.ProductView through the cache, under the list
// namespace version (bumped by every write).
func (s *Store) ProductView(ctx context.Context, id string, p query.Params) (store.View, error) {
	key := fmt.Sprintf("products:v%d:e:%s:f=%s", s.cache.Version(ctx, listNamespace), id,
		strings.Join(p.Columns(store.Columns, "id"), ","))
	res, err := s.views.GetOrLoad(ctx, key, func(ctx context.Context) (store.View, bool, error) {
		return found(s.Store.ProductView(ctx, id, p))
	})
	if err != nil || !res.Found {
		return store.View{}, orNotFound(err)
	}
	res.Value.Staleness = staleness(res)
	return res.Value, nil
}

// Page is store.Page through the cache. The key holds everything that
// changes the answer: the list namespace version, the cursor binding (sort
// + filters), the fieldset, the page size, the cursor itself and the
// caller's rollout variant (callers in and out of the rollout see
// different pages for the same URL; the variant is not part of the cursor
// binding, so a walk continues when the caller's share flips).
func (s *Store) Page(ctx context.Context, q store.PageQuery) (store.Page, error) {
	sum := sha256.Sum256([]byte(q.Binding() + "|" + fmt.Sprint(q.Fields) + "|" + strconv.Itoa(q.Limit) + "|" + q.Cursor))
	key := fmt.Sprintf("products:v%d:l:%s", s.cache.Version(ctx, listNamespace), base64.RawURLEncoding.EncodeToString(sum[:18]))
	if q.SKUPrefix {
		key += ":sku"
	}
	res, err := s.pages.GetOrLoad(ctx, key, func(ctx context.Context) (store.Page, bool, error) {
		page, err := s.Store.Page(ctx, q)
		return page, err == nil, err
	})
	if err != nil {
		return store.Page{}, err
	}
	res.Value.Staleness = staleness(res)
	return res.Value, nil
}

// found turns "not found" into a cacheable miss.
func found[T any](v T, err error) (T, bool, error) {
	if apperr.KindOf(err) == apperr.KindNotFound {
		return v, false, nil
	}
	return v, err == nil, err
}

func orNotFound(err error) error {
	if err != nil {
		return err
	}
	return products.ErrNotFound
}

func staleness[T any](r pcache.TypedResult[T]) store.Staleness {
	return store.Staleness{Stale: r.Stale, Age: r.Age}
}

// The writes: each drops what it changed once its unit of work commits,
// before the write is acknowledged.

func (s *Store) Create(ctx context.Context, r *store.Row) error {
	if err := s.Store.Create(ctx, r); err != nil {
		return err
	}
	s.invalidateAfterCommit(ctx, r.ID)
	return nil
}

// CreateBatch inserts many rows (seeding): every list may change.
func (s *Store) CreateBatch(ctx context.Context, rows []store.Row) error {
	if err := s.Store.CreateBatch(ctx, rows); err != nil {
		return err
	}
	db.AfterCommit(ctx, s.invalidateLists)
	return nil
}

func (s *Store) Update(ctx context.Context, id string, expectVersion int64, changes map[string]any) (store.Row, error) {
	row, err := s.Store.Update(ctx, id, expectVersion, changes)
	if err != nil {
		return row, err
	}
	s.invalidateAfterCommit(ctx, id)
	return row, nil
}

func (s *Store) Delete(ctx context.Context, id string, expectVersion int64) error {
	if err := s.Store.Delete(ctx, id, expectVersion); err != nil {
		return err
	}
	s.invalidateAfterCommit(ctx, id)
	return nil
}

// InsertReservation records a reservation whose stock was taken.
func (s *Store) InsertReservation(ctx context.Context, rows []store.ReservationLine) error {
	if err := s.Store.InsertReservation(ctx, rows); err != nil {
		return err
	}
	s.invalidateAfterCommit(ctx, productIDs(rows)...)
	return nil
}

// ReleaseReservation returns a reservation's stock.
func (s *Store) ReleaseReservation(ctx context.Context, reservationID string) ([]store.ReservationLine, error) {
	released, err := s.Store.ReleaseReservation(ctx, reservationID)
	if err != nil || len(released) == 0 {
		return released, err
	}
	s.invalidateAfterCommit(ctx, productIDs(released)...)
	return released, nil
}

func productIDs(rows []store.ReservationLine) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ProductID
	}
	return out
}

// invalidateAfterCommit drops the products and every list once the unit of
// work commits (right away outside one); the cache tells other instances
// through Redis pub/sub.
func (s *Store) invalidateAfterCommit(ctx context.Context, ids ...string) {
	db.AfterCommit(ctx, func(ctx context.Context) { s.invalidate(ctx, ids) })
}

func (s *Store) invalidate(ctx context.Context, ids []string) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = entityKey(id)
	}
	if err := s.cache.Invalidate(ctx, keys...); err != nil {
		s.log.WarnContext(ctx, "cache invalidation failed", "ids", ids, "err", err)
	}
	// A read that loaded the old row just before the write may fill the
	// cache just after the delete above; a second, delayed delete closes
	// that window (the classic cache-aside race).
	time.AfterFunc(raceWindow, func() {
		_ = s.cache.Invalidate(context.WithoutCancel(ctx), keys...)
	})
	s.invalidateLists(ctx)
}

func (s *Store) invalidateLists(ctx context.Context) {
	if err := s.cache.BumpVersion(ctx, listNamespace); err != nil {
		s.log.WarnContext(ctx, "list version bump failed", "err", err)
	}
}
