package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"example.com/productapi/modules/products"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/query"
)

// The read path's answers. Each is rendered once, when loaded, so a cached
// copy is served as is; they are also the values the caching layer stores
// (as JSON in L2).

// Entity is a product's full representation.
type Entity struct {
	ETag    string           `json:"etag"` // the version's
	Product products.Product `json:"product"`
	Body    json.RawMessage  `json:"body"` // Product as served
	Staleness
}

// View is a product projected to a fieldset.
type View struct {
	ETag string          `json:"etag"` // the version's, varied by the fieldset
	Body json.RawMessage `json:"body"`
	Staleness
}

// Page is one list page: the envelope as served, its ETag and the cursor
// of the page after it ("" on the last).
type Page struct {
	ETag string          `json:"etag"`
	Next string          `json:"next,omitempty"`
	Body json.RawMessage `json:"body"`
	Staleness
}

// Staleness is set by the caching layer when it serves the last good copy
// because the database failed (stale-if-error); the store never sets it.
type Staleness struct {
	Stale bool          `json:"-"`
	Age   time.Duration `json:"-"` // since the copy was loaded
}

// PageQuery is one list page as asked.
type PageQuery struct {
	query.Params
	// SKUPrefix makes q also match products whose SKU starts with the term,
	// case-insensitively (the caller's products.search_sku_match variant).
	SKUPrefix bool
}

// Product loads and renders a product's full representation.
func (s *Store) Product(ctx context.Context, id string) (Entity, error) {
	row, err := s.ByID(ctx, id)
	if err != nil {
		return Entity{}, err
	}
	p := row.ToProduct()
	body, err := json.Marshal(p)
	if err != nil {
		return Entity{}, apperr.Internal(err)
	}
	return Entity{ETag: httpx.VersionETag(row.Version, ""), Product: p, Body: body}, nil
}

// ProductView loads only the columns of p's fieldset and renders them.
func (s *Store) ProductView(ctx context.Context, id string, p query.Params) (View, error) {
	cols := p.Columns(Columns, "id")
	row, err := s.ByID(ctx, id, append(cols, "version")...)
	if err != nil {
		return View{}, err
	}
	body, err := render(row, p)
	if err != nil {
		return View{}, apperr.Internal(err)
	}
	return View{ETag: httpx.VersionETag(row.Version, fmt.Sprint(cols)), Body: body}, nil
}

// Page runs one keyset page query and renders it. The cursor is verified
// here, i.e. only when the page is not cached: a page is cached only after
// its cursor passed, and its cache key holds the cursor verbatim.
func (s *Store) Page(ctx context.Context, q PageQuery) (Page, error) {
	ks, err := q.DecodeCursor(s.cursors)
	if err != nil {
		return Page{}, err
	}
	rows, more, err := s.List(ctx, q, ks)
	if err != nil {
		return Page{}, err
	}
	items := make([]json.RawMessage, 0, len(rows))
	for _, r := range rows {
		b, err := render(r, q.Params)
		if err != nil {
			return Page{}, apperr.Internal(err)
		}
		items = append(items, b)
	}
	next := ""
	if more && len(rows) > 0 {
		last := rows[len(rows)-1]
		next = s.cursors.Encode(q.Binding(), sortValue(last, q.Sort.Field), last.ID)
	}
	body, err := httpx.ListBody(items, next)
	if err != nil {
		return Page{}, apperr.Internal(err)
	}
	return Page{ETag: httpx.BodyETag(body), Next: next, Body: body}, nil
}
