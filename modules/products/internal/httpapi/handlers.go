// Package httpapi is the products module's HTTP surface.
package httpapi

import (
	"context"
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

// ListSpec is the allow-list of GET /v1/products, built from the store's
// field table.
var ListSpec = store.Spec

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
// as is, and answers If-None-Match from the cached ETag without rendering
// anything.
func (h *Handlers) get(c *gin.Context) {
	id := c.Param("id")
	if c.Request.URL.RawQuery == "" {
		h.writeProduct(c, id)
		return
	}
	params, err := query.ParseFields(ListSpec, c.Request.URL.Query())
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if params.Fields == nil {
		h.writeProduct(c, id)
		return
	}
	v, err := h.svc.ProductView(c.Request.Context(), id, params)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	markStale(c, v.Staleness)
	httpx.WriteCacheable(c, http.StatusOK, v.ETag, h.cacheControl, v.Body)
}

// writeProduct answers with the product's full representation.
func (h *Handlers) writeProduct(c *gin.Context, id string) {
	e, err := h.svc.Product(c.Request.Context(), id)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	markStale(c, e.Staleness)
	httpx.WriteCacheable(c, http.StatusOK, e.ETag, h.cacheControl, e.Body)
}

// markStale signals a response served from the last good copy while the
// database is unreachable (RFC 9111 Age; Warning 110 for older clients).
func markStale(c *gin.Context, s store.Staleness) {
	if !s.Stale {
		return
	}
	c.Header("Age", strconv.Itoa(int(s.Age.Seconds())))
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
	q, cacheControl := store.PageQuery{Params: params}, h.cacheControl
	if searching {
		q.SKUPrefix = h.skuMatchOn(c.Request.Context())
		// The page depends on the caller's rollout variant: shared caches
		// must not keep it.
		cacheControl = h.searchCacheControl
		httpx.VaryAuthorization(c)
	}
	page, err := h.svc.Page(c.Request.Context(), q)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	markStale(c, page.Staleness)
	httpx.SetNextLink(c, h.baseURL, page.Next)
	httpx.WriteCacheable(c, http.StatusOK, page.ETag, cacheControl, page.Body)
}
