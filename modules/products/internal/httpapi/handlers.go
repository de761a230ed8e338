// Package httpapi is the products module's HTTP surface.
package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"example.com/productapi/modules/products/internal/app"
	"example.com/productapi/modules/products/internal/store"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/query"
)

// Handlers serve the products routes.
type Handlers struct {
	svc          *app.Service
	cursors      *query.Codec
	baseURL      string
	cacheControl string
	searchOn     func(ctx context.Context) bool
	skuMatchOn   func(ctx context.Context) bool
	// searchCacheControl is for lists using q: their result depends on the
	// caller's rollout variant (SKUMatch), so shared caches must not keep them.
	searchCacheControl string
	// AdminMFA guards the catalogue writes (auth.MFAPolicy.For
	// "admin.products"); nil: no second factor needed.
	AdminMFA gin.HandlerFunc
}

// Options tune the handlers.
type Options struct {
	BaseURL              string
	MaxAge, StaleWhileRe time.Duration
	// SearchEnabled is the products.search_enabled switch; nil = always on.
	SearchEnabled func(ctx context.Context) bool
	// SKUMatch is the products.search_sku_match rollout for the caller in
	// ctx: on, q also matches SKU prefixes. nil = always off.
	SKUMatch func(ctx context.Context) bool
}

func NewHandlers(svc *app.Service, cursors *query.Codec, o Options) *Handlers {
	cc := fmt.Sprintf("public, max-age=%d, stale-while-revalidate=%d", int(o.MaxAge.Seconds()), int(o.StaleWhileRe.Seconds()))
	on := o.SearchEnabled
	if on == nil {
		on = func(context.Context) bool { return true }
	}
	skuMatch := o.SKUMatch
	if skuMatch == nil {
		skuMatch = func(context.Context) bool { return false }
	}
	return &Handlers{svc: svc, cursors: cursors, baseURL: o.BaseURL, cacheControl: cc, searchOn: on, skuMatchOn: skuMatch,
		searchCacheControl: fmt.Sprintf("private, max-age=%d", int(o.MaxAge.Seconds())), AdminMFA: auth.NoSecondFactor}
}

var fields = []string{"id", "sku", "name", "description", "price_cents", "currency", "stock", "category", "created_at", "updated_at"}

// ListSpec is the allow-list of GET /v1/products.
var ListSpec = query.Spec{
	Resource: "products", Fields: fields,
	Sorts: []string{"created_at", "price_cents", "name"}, DefaultSort: "-created_at",
	Filters: map[string]query.FilterKind{
		"category": query.FilterString, "min_price_cents": query.FilterNonNegInt, "max_price_cents": query.FilterNonNegInt,
		"in_stock": query.FilterBool, "q": query.FilterString,
	},
	DefaultLimit: 20, MaxLimit: 100,
}

type createRequest struct {
	SKU         string `json:"sku" validate:"required,sku"`
	Name        string `json:"name" validate:"required,notblank,max=200"`
	Description string `json:"description" validate:"max=5000"`
	PriceCents  *int64 `json:"price_cents" validate:"required,gte=0,lte=100000000000"`
	Currency    string `json:"currency" validate:"required,iso4217"`
	Stock       int64  `json:"stock" validate:"gte=0,lte=1000000000"`
	Category    string `json:"category" validate:"max=100"`
}

type patchRequest struct {
	SKU         *string `json:"sku" validate:"omitnil,sku"`
	Name        *string `json:"name" validate:"omitnil,notblank,max=200"`
	Description *string `json:"description" validate:"omitnil,max=5000"`
	PriceCents  *int64  `json:"price_cents" validate:"omitnil,gte=0,lte=100000000000"`
	Currency    *string `json:"currency" validate:"omitnil,iso4217"`
	Stock       *int64  `json:"stock" validate:"omitnil,gte=0,lte=1000000000"`
	Category    *string `json:"category" validate:"omitnil,max=100"`
}

// changes lists the columns the client sent; absent fields stay untouched.
func (r patchRequest) changes() map[string]any {
	ch := map[string]any{}
	if r.SKU != nil {
		ch["sku"] = *r.SKU
	}
	if r.Name != nil {
		ch["name"] = *r.Name
	}
	if r.Description != nil {
		ch["description"] = *r.Description
	}
	if r.PriceCents != nil {
		ch["price_cents"] = *r.PriceCents
	}
	if r.Currency != nil {
		ch["currency"] = *r.Currency
	}
	if r.Stock != nil {
		ch["stock"] = *r.Stock
	}
	if r.Category != nil {
		ch["category"] = *r.Category
	}
	return ch
}

var errEmptyPatch = apperr.Validation(apperr.FieldError{Field: "body", Message: "at least one field is required"})

func (h *Handlers) create(c *gin.Context) {
	var req createRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	row, err := h.svc.Create(c.Request.Context(), app.Input{SKU: req.SKU, Name: req.Name, Description: req.Description,
		PriceCents: *req.PriceCents, Currency: req.Currency, Stock: req.Stock, Category: req.Category})
	if err != nil {
		httpx.Error(c, err)
		return
	}
	c.Header("Location", h.baseURL+"/v1/products/"+row.ID)
	c.Header("ETag", httpx.VersionETag(row.Version, ""))
	c.JSON(http.StatusCreated, row.ToProduct())
}

func (h *Handlers) patch(c *gin.Context) {
	var req patchRequest
	if err := httpx.Decode(c, &req); err != nil {
		httpx.Error(c, err)
		return
	}
	ch := req.changes()
	if len(ch) == 0 {
		httpx.Error(c, errEmptyPatch)
		return
	}
	version, _, err := httpx.IfMatchVersion(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	row, err := h.svc.Update(c.Request.Context(), c.Param("id"), version, ch)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	c.Header("ETag", httpx.VersionETag(row.Version, ""))
	c.JSON(http.StatusOK, row.ToProduct())
}

func (h *Handlers) delete(c *gin.Context) {
	version, _, err := httpx.IfMatchVersion(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if err := h.svc.Delete(c.Request.Context(), c.Param("id"), version); err != nil {
		httpx.Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// get is the hottest route: with no query string it serves the cached body
// as is, and answers If-None-Match from the cached version without
// rendering anything.
func (h *Handlers) get(c *gin.Context) {
	id := c.Param("id")
	var (
		view app.Cached
		err  error
		tag  string
	)
	if c.Request.URL.RawQuery == "" {
		view, err = h.svc.Representation(c.Request.Context(), id)
	} else {
		var params query.Params
		params, err = query.ParseFields(ListSpec, c.Request.URL.Query())
		if err != nil {
			httpx.Error(c, err)
			return
		}
		if params.Fields == nil {
			view, err = h.svc.Representation(c.Request.Context(), id)
		} else {
			cols := params.Columns(store.Columns, "id")
			tag = fmt.Sprint(cols)
			view, err = h.svc.SparseRepresentation(c.Request.Context(), id, cols, func(r store.Row) ([]byte, error) {
				return render(r, params)
			})
		}
	}
	if err != nil {
		httpx.Error(c, err)
		return
	}
	markStale(c, view.Stale, view.Age)
	httpx.WriteCacheable(c, http.StatusOK, httpx.VersionETag(view.Version, tag), h.cacheControl, view.Body)
}

// markStale signals a response served from the last good copy while the
// database is unreachable (RFC 9111 Age; Warning 110 for older clients).
func markStale(c *gin.Context, stale bool, age time.Duration) {
	if !stale {
		return
	}
	c.Header("Age", strconv.Itoa(int(age.Seconds())))
	c.Header("Warning", `110 - "Response is Stale"`)
}

var errSearchOff = apperr.Unavailable("products.search_disabled", "search is switched off right now; list without q or retry later", 30*time.Second)

func (h *Handlers) list(c *gin.Context) {
	params, err := query.Parse(ListSpec, c.Request.URL.Query())
	if err != nil {
		httpx.Error(c, err)
		return
	}
	_, searching := params.String("q")
	if searching && !h.searchOn(c.Request.Context()) {
		httpx.Error(c, errSearchOff)
		return
	}
	minP, okMin := params.Int("min_price_cents")
	maxP, okMax := params.Int("max_price_cents")
	if okMin && okMax && minP > maxP {
		httpx.Error(c, apperr.Invalid("query.filter", "min_price_cents must be <= max_price_cents"))
		return
	}
	// The cursor is verified on a cache miss only: the page key contains the
	// cursor verbatim, and a page is cached only after its cursor passed, so
	// a hit needs no second HMAC check.
	// The rollout variant is part of the page key: callers in and out of
	// the rollout see different pages for the same URL. It is not part of
	// the cursor binding, so a walk continues when the caller's share flips.
	key, cacheControl := pageKey(params), h.cacheControl
	var opts store.ListOptions
	if searching {
		opts.SKUPrefix = h.skuMatchOn(c.Request.Context())
		if opts.SKUPrefix {
			key += ":sku"
		}
		cacheControl = h.searchCacheControl
		httpx.VaryAuthorization(c)
	}
	res, err := h.svc.CachedList(c.Request.Context(), key, func(ctx context.Context) ([]byte, error) {
		ks, err := params.DecodeCursor(h.cursors)
		if err != nil {
			return nil, err
		}
		return h.renderPage(ctx, params, ks, opts)
	})
	if err != nil {
		httpx.Error(c, err)
		return
	}
	etag, next, body := unpackPage(res.Value)
	markStale(c, res.Stale, res.Age)
	httpx.SetNextLink(c, h.baseURL, next)
	httpx.WriteCacheable(c, http.StatusOK, etag, cacheControl, body)
}

// pageKey identifies a list page: the cursor binding (sort + filters), the
// fieldset, the page size and the cursor itself.
func pageKey(p query.Params) string {
	sum := sha256.Sum256([]byte(p.Binding() + "|" + fmt.Sprint(p.Fields) + "|" + strconv.Itoa(p.Limit) + "|" + p.Cursor))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// renderPage runs the page query and packs "<etag>\n<next>\n<body>".
func (h *Handlers) renderPage(ctx context.Context, p query.Params, ks *query.Keyset, o store.ListOptions) ([]byte, error) {
	rows, more, err := h.svc.ListPage(ctx, p, ks, o)
	if err != nil {
		return nil, err
	}
	items := make([]json.RawMessage, 0, len(rows))
	for _, r := range rows {
		b, err := render(r, p)
		if err != nil {
			return nil, err
		}
		items = append(items, b)
	}
	next := ""
	if more && len(rows) > 0 {
		last := rows[len(rows)-1]
		next = h.cursors.Encode(p.Binding(), sortValue(last, p.Sort.Field), last.ID)
	}
	body, err := httpx.ListBody(items, next)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(next)+40)
	out = append(out, httpx.BodyETag(body)...)
	out = append(out, '\n')
	out = append(out, next...)
	out = append(out, '\n')
	return append(out, body...), nil
}

func unpackPage(v []byte) (etag, next string, body []byte) {
	parts := [3][]byte{}
	for i := 0; i < 2; i++ {
		j := 0
		for j < len(v) && v[j] != '\n' {
			j++
		}
		parts[i] = v[:j]
		if j < len(v) {
			v = v[j+1:]
		} else {
			v = nil
		}
	}
	return string(parts[0]), string(parts[1]), v
}

func sortValue(r store.Row, field string) any {
	switch field {
	case "price_cents":
		return r.PriceCents
	case "name":
		return r.Name
	default:
		return r.CreatedAt.UTC()
	}
}

// render encodes a product, projected to the requested fields.
func render(r store.Row, p query.Params) ([]byte, error) {
	pr := r.ToProduct()
	if p.Fields == nil {
		return json.Marshal(pr)
	}
	full := map[string]any{"id": pr.ID, "sku": pr.SKU, "name": pr.Name, "description": pr.Description,
		"price_cents": pr.PriceCents, "currency": pr.Currency, "stock": pr.Stock, "category": pr.Category,
		"created_at": pr.CreatedAt, "updated_at": pr.UpdatedAt}
	return json.Marshal(query.Project(full, p))
}
