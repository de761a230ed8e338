// Package app holds the products use cases: writes with optimistic
// concurrency and precise cache invalidation, and cache-aside reads.
package app

import (
	"context"
	"encoding/json"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/events"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"example.com/productapi/modules/products"
	"example.com/productapi/modules/products/internal/store"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/cache"
	"example.com/productapi/platform/ids"
	"example.com/productapi/platform/query"
)

// listNamespace versions every cached list page and sparse view: any write
// bumps it, because a changed product can move into or out of any list.
const listNamespace = "products:lists"

// raceWindow bounds how long a read that started before a write may run.
const raceWindow = 500 * time.Millisecond

// Service implements the products use cases and products.Service.
type Service struct {
	store  *store.Store
	cache  *cache.Cache
	events *events.Bus
	audit  *audit.Log
	log    *slog.Logger
}

func New(st *store.Store, c *cache.Cache, bus *events.Bus, trail *audit.Log, log *slog.Logger) *Service {
	return &Service{store: st, cache: c, events: bus, audit: trail, log: log}
}

var _ products.Service = (*Service)(nil)

// EntityKey is the cache key of a product's full representation.
func EntityKey(id string) string { return "products:e:" + id }

// Cached is one cached representation: the body as served and its validator.
type Cached struct {
	Version int64
	Body    []byte
	Stale   bool
	Age     time.Duration
}

// encodeCached packs "<version>\n<body>" so a cache hit needs no JSON parsing.
func encodeCached(version int64, body []byte) []byte {
	out := make([]byte, 0, len(body)+21)
	out = fmt.Appendf(out, "%d\n", version)
	return append(out, body...)
}

func decodeCached(v []byte) (int64, []byte, bool) {
	var version int64
	for i, ch := range v {
		if ch == '\n' {
			return version, v[i+1:], i > 0
		}
		if ch < '0' || ch > '9' {
			return 0, nil, false
		}
		version = version*10 + int64(ch-'0')
	}
	return 0, nil, false
}

// Representation returns a product's full JSON body through the cache.
func (s *Service) Representation(ctx context.Context, id string) (Cached, error) {
	if !ids.Valid(id) {
		return Cached{}, products.ErrNotFound
	}
	return s.cachedView(ctx, EntityKey(id), func(ctx context.Context) ([]byte, bool, error) {
		row, err := s.store.ByID(ctx, id)
		return s.packRow(row, err)
	})
}

// SparseRepresentation returns only the given columns of a product. It is
// cached under the list namespace version (bumped by every write), and its
// load selects only those columns.
func (s *Service) SparseRepresentation(ctx context.Context, id string, cols []string, render func(store.Row) ([]byte, error)) (Cached, error) {
	if !ids.Valid(id) {
		return Cached{}, products.ErrNotFound
	}
	key := fmt.Sprintf("products:v%d:e:%s:f=%s", s.cache.Version(ctx, listNamespace), id, strings.Join(cols, ","))
	return s.cachedView(ctx, key, func(ctx context.Context) ([]byte, bool, error) {
		row, err := s.store.ByID(ctx, id, append(cols, "version")...)
		if err != nil {
			if apperr.KindOf(err) == apperr.KindNotFound {
				return nil, false, nil
			}
			return nil, false, err
		}
		body, err := render(row)
		if err != nil {
			return nil, false, err
		}
		return encodeCached(row.Version, body), true, nil
	})
}

func (s *Service) packRow(row store.Row, err error) ([]byte, bool, error) {
	if apperr.KindOf(err) == apperr.KindNotFound {
		return nil, false, nil // negative-cached briefly
	}
	if err != nil {
		return nil, false, err
	}
	body, err := json.Marshal(row.ToProduct())
	if err != nil {
		return nil, false, err
	}
	return encodeCached(row.Version, body), true, nil
}

func (s *Service) cachedView(ctx context.Context, key string, load cache.Loader) (Cached, error) {
	res, err := s.cache.GetOrLoad(ctx, key, load)
	if err != nil {
		return Cached{}, unavailable(err)
	}
	if !res.Found {
		return Cached{}, products.ErrNotFound
	}
	version, body, ok := decodeCached(res.Value)
	if !ok {
		return Cached{}, apperr.Internal(fmt.Errorf("corrupt cache entry %q", key))
	}
	return Cached{Version: version, Body: body, Stale: res.Stale, Age: res.Age}, nil
}

// Get implements products.Service for other modules.
func (s *Service) Get(ctx context.Context, id string) (products.Product, error) {
	c, err := s.Representation(ctx, id)
	if err != nil {
		return products.Product{}, err
	}
	var p products.Product
	if err := json.Unmarshal(c.Body, &p); err != nil {
		return p, apperr.Internal(err)
	}
	return p, nil
}

// CachedList serves a list page through the cache. key identifies the page
// (binding, fieldset, limit, cursor); render builds the body on a miss.
func (s *Service) CachedList(ctx context.Context, key string, render func(ctx context.Context) ([]byte, error)) (cache.Result, error) {
	full := fmt.Sprintf("products:v%d:l:%s", s.cache.Version(ctx, listNamespace), key)
	res, err := s.cache.GetOrLoad(ctx, full, func(ctx context.Context) ([]byte, bool, error) {
		body, err := render(ctx)
		return body, err == nil, err
	})
	if err != nil {
		return res, unavailable(err)
	}
	return res, nil
}

// unavailable keeps typed errors (a bad cursor is still a 400) and turns
// store failures into a 503 the client may retry.
func unavailable(err error) error {
	if apperr.KindOf(err) != apperr.KindInternal {
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
// its audit record and its products.product_changed.v1 event; caches are
// invalidated after the commit.
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
	if err != nil {
		return row, err
	}
	s.invalidate(ctx, row.ID)
	return row, nil
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
	if err != nil {
		return row, err
	}
	s.invalidate(ctx, id)
	return row, nil
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
	if err != nil {
		return err
	}
	s.invalidate(ctx, id)
	return nil
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

// InvalidateAll drops every cached list (after bulk loads such as seeding).
func (s *Service) InvalidateAll(ctx context.Context) {
	if err := s.cache.BumpVersion(ctx, listNamespace); err != nil {
		s.log.WarnContext(ctx, "list version bump failed", "err", err)
	}
}

// invalidate drops the entity and every list before the write is
// acknowledged; the cache tells other instances through Redis pub/sub.
func (s *Service) invalidate(ctx context.Context, id string) { s.invalidateMany(ctx, []string{id}) }

func (s *Service) invalidateMany(ctx context.Context, ids []string) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = EntityKey(id)
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
	if err := s.cache.BumpVersion(ctx, listNamespace); err != nil {
		s.log.WarnContext(ctx, "list version bump failed", "err", err)
	}
}

// ListPage runs one keyset page query (the list renderer's cache miss).
func (s *Service) ListPage(ctx context.Context, p query.Params, ks *query.Keyset, o store.ListOptions) ([]store.Row, bool, error) {
	return s.store.List(ctx, p, ks, o)
}
