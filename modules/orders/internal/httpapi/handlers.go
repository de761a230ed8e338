// Package httpapi is the orders module's HTTP surface: decode and validate,
// call the use case, encode. Errors go through httpx.Error, nowhere else.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/internal/app"
	"example.com/productapi/modules/orders/internal/domain"
	"example.com/productapi/modules/orders/internal/salesview"
	"example.com/productapi/modules/orders/internal/store"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/query"
)

// Handlers serve the orders routes.
type Handlers struct {
	svc     *app.Service
	sales   *salesview.View
	cursors *query.Codec
	baseURL string
	// checkoutEnabled is the orders.checkout_enabled kill switch.
	checkoutEnabled func(ctx context.Context) bool
	// AdminMFA guards admin-only routes (ship, reports) and AdminActingMFA
	// the cancel when an admin calls it (auth.MFAPolicy "admin.orders");
	// nil: no second factor needed.
	AdminMFA, AdminActingMFA gin.HandlerFunc
}

func NewHandlers(svc *app.Service, sales *salesview.View, cursors *query.Codec, baseURL string, checkoutEnabled func(ctx context.Context) bool) *Handlers {
	if checkoutEnabled == nil {
		checkoutEnabled = func(context.Context) bool { return true }
	}
	return &Handlers{svc: svc, sales: sales, cursors: cursors, baseURL: baseURL, checkoutEnabled: checkoutEnabled,
		AdminMFA: auth.NoSecondFactor, AdminActingMFA: auth.NoSecondFactor}
}

// errCheckoutOff answers POST /v1/orders while an operator has switched
// checkout off; everything else keeps working.
var errCheckoutOff = apperr.Unavailable("orders.checkout_disabled", "checkout is switched off for now; retry later", 60*time.Second)

var itemFields = []string{"product_id", "sku", "name", "unit_price_cents", "quantity"}

// ListSpec is the allow-list of GET /v1/orders (and of fields/include on
// GET /v1/orders/{id}).
var ListSpec = query.Spec{
	Resource: "orders",
	Fields:   []string{"id", "user_id", "status", "total_cents", "currency", "created_at", "updated_at"},
	Includes: map[string][]string{"items": itemFields},
	Sorts:    []string{"created_at", "total_cents"}, DefaultSort: "-created_at",
	Filters:      map[string]query.FilterKind{"status": query.FilterString, "user_id": query.FilterID},
	DefaultLimit: 20, MaxLimit: 100,
}

// SalesSpec is the allow-list of GET /v1/admin/reports/product-sales.
var SalesSpec = query.Spec{
	Resource: "product-sales",
	Fields:   []string{"product_id", "sku", "name", "currency", "units_sold", "revenue_cents", "paid_orders", "updated_at"},
	Sorts:    []string{"revenue_cents", "units_sold"}, DefaultSort: "-revenue_cents",
	DefaultLimit: 20, MaxLimit: 100,
}

type placeRequest struct {
	Items []placeItem `json:"items" validate:"required,min=1,max=50,dive"`
}

type placeItem struct {
	ProductID string `json:"product_id" validate:"required"`
	Quantity  int64  `json:"quantity" validate:"gte=1,lte=1000"`
}

func caller(c *gin.Context) app.Caller {
	p, _ := auth.Caller(c)
	return app.Caller{UserID: p.UserID, Admin: p.IsAdmin()}
}

// checkKey validates the Idempotency-Key header: 1..255 visible ASCII.
func checkKey(k string) error {
	if k == "" {
		return orders.ErrIdempotencyKeyRequired
	}
	if len(k) > 255 {
		return orders.ErrIdempotencyKeyInvalid
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return orders.ErrIdempotencyKeyInvalid
		}
	}
	return nil
}

// decodePlace decodes the Idempotency-Key and the body.
func decodePlace(c *gin.Context) (string, []domain.Line, error) {
	key := c.GetHeader("Idempotency-Key")
	if err := checkKey(key); err != nil {
		return "", nil, err
	}
	var req placeRequest
	if err := httpx.Decode(c, &req); err != nil {
		return "", nil, err
	}
	lines := make([]domain.Line, len(req.Items))
	for i, it := range req.Items {
		lines[i] = domain.Line{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return key, lines, nil
}

func (h *Handlers) place(c *gin.Context) {
	p, _ := auth.Caller(c)
	if !h.checkoutEnabled(c.Request.Context()) {
		h.placeWhileOff(c, p.UserID)
		return
	}
	key, lines, err := decodePlace(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	res, err := h.svc.Place(c.Request.Context(), p.UserID, key, lines)
	h.writePlaced(c, res, err)
}

// placeWhileOff answers a checkout while the kill switch is off: a key the
// caller already used answers as it would with checkout on (the stored
// response, 422 or 409), since a replay is not a new checkout; anything
// else, malformed requests included, is the 503.
func (h *Handlers) placeWhileOff(c *gin.Context, userID string) {
	key, lines, err := decodePlace(c)
	if err != nil {
		httpx.Error(c, errCheckoutOff)
		return
	}
	res, known, err := h.svc.Replay(c.Request.Context(), userID, key, lines)
	if err == nil && !known {
		err = errCheckoutOff
	}
	h.writePlaced(c, res, err)
}

func (h *Handlers) writePlaced(c *gin.Context, res app.Placed, err error) {
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if res.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	c.Header("Location", h.baseURL+"/v1/orders/"+res.OrderID)
	c.Header("Cache-Control", "no-store")
	httpx.VaryAuthorization(c)
	c.Data(res.Status, "application/json; charset=utf-8", res.Body)
}

// variant names a representation (fieldset + include) for its ETag.
func variant(p query.Params) string {
	if p.Fields == nil && len(p.Include) == 0 {
		return ""
	}
	return fmt.Sprint(p.Fields, p.Include, p.Nested)
}

func (h *Handlers) get(c *gin.Context) {
	params, err := query.ParseFields(ListSpec, c.Request.URL.Query())
	if err != nil {
		httpx.Error(c, err)
		return
	}
	cols := params.Columns(store.Columns, "id", "version")
	row, err := h.svc.Row(c.Request.Context(), caller(c), c.Param("id"), cols)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	httpx.VaryAuthorization(c)
	etag := httpx.VersionETag(row.Version, variant(params))
	if httpx.NoneMatch(c, etag) {
		httpx.NotModified(c, etag, httpx.CachePrivate)
		return
	}
	items, err := h.items(c, params, []store.Row{row})
	if err != nil {
		httpx.Error(c, err)
		return
	}
	body, err := json.Marshal(render(row, items[row.ID], params))
	if err != nil {
		httpx.Error(c, apperr.Internal(err))
		return
	}
	httpx.WriteCacheable(c, http.StatusOK, etag, httpx.CachePrivate, body)
}

// items loads the included items of a page in one query (no N+1), with
// only the selected item columns.
func (h *Handlers) items(c *gin.Context, p query.Params, rows []store.Row) (map[string][]store.ItemRow, error) {
	if !p.Includes("items") || len(rows) == 0 {
		return nil, nil
	}
	sub := p.Nested["items"]
	if sub == nil {
		sub = itemFields
	}
	cols := make([]string, 0, len(sub))
	for _, f := range sub {
		cols = append(cols, store.ItemColumns[f])
	}
	idList := make([]string, len(rows))
	for i, r := range rows {
		idList[i] = r.ID
	}
	return h.svc.Items(c.Request.Context(), idList, cols)
}

// render builds the representation: the order's fields (projected) and,
// when included, its items (projected to the nested fieldset).
func render(r store.Row, items []store.ItemRow, p query.Params) map[string]any {
	o := r.ToOrder()
	full := map[string]any{"id": o.ID, "user_id": o.UserID, "status": o.Status, "total_cents": o.TotalCents,
		"currency": o.Currency, "created_at": o.CreatedAt, "updated_at": o.UpdatedAt}
	if p.Includes("items") {
		list := make([]map[string]any, len(items))
		for i, it := range items {
			list[i] = map[string]any{"product_id": it.ProductID, "sku": it.SKU, "name": it.Name,
				"unit_price_cents": it.UnitPriceCents, "quantity": it.Quantity}
		}
		full["items"] = list
	}
	return query.Project(full, p)
}

func (h *Handlers) list(c *gin.Context) {
	params, ks, err := query.ParsePage(ListSpec, c.Request.URL.Query(), h.cursors)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	if st, ok := params.String("status"); ok && !slices.Contains(domain.Statuses, orders.Status(st)) {
		httpx.Error(c, apperr.Invalid(query.CodeFilter, "filter status must be one of pending, paid, shipped, cancelled, payment_failed"))
		return
	}
	cols := params.Columns(store.Columns, "id")
	rows, more, err := h.svc.List(c.Request.Context(), caller(c), params, ks, cols)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	items, err := h.items(c, params, rows)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	data := make([]map[string]any, len(rows))
	for i, r := range rows {
		data[i] = render(r, items[r.ID], params)
	}
	next := ""
	if more && len(rows) > 0 {
		last := rows[len(rows)-1]
		var sv any = last.CreatedAt.UTC()
		if params.Sort.Field == "total_cents" {
			sv = last.TotalCents
		}
		next = h.cursors.Encode(params.Binding(), sv, last.ID)
	}
	httpx.WritePrivateList(c, h.baseURL, data, next)
}

func (h *Handlers) cancel(c *gin.Context) { h.transition(c, h.svc.Cancel) }
func (h *Handlers) ship(c *gin.Context)   { h.transition(c, h.svc.Ship) }

type transitionFunc func(ctx context.Context, c app.Caller, id string, ifMatch int64) (store.Row, error)

// transition serves cancel and ship: no body; If-Match (a full
// representation's ETag) makes it conditional, 412 when stale.
func (h *Handlers) transition(c *gin.Context, do transitionFunc) {
	version, _, err := httpx.IfMatchVersion(c)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	row, err := do(c.Request.Context(), caller(c), c.Param("id"), version)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	httpx.WriteWritten(c, row.Version, row.ToOrder())
}

func (h *Handlers) salesList(c *gin.Context) {
	params, ks, err := query.ParsePage(SalesSpec, c.Request.URL.Query(), h.cursors)
	if err != nil {
		httpx.Error(c, err)
		return
	}
	rows, more, err := h.sales.List(c.Request.Context(), params, ks, params.Columns(salesview.Columns, "product_id"))
	if err != nil {
		httpx.Error(c, err)
		return
	}
	data := make([]map[string]any, len(rows))
	for i, r := range rows {
		data[i] = query.Project(r.JSON(), params)
		if params.Fields == nil {
			delete(data[i], "id") // product_id is the identifier; id only on request
		}
	}
	next := ""
	if more && len(rows) > 0 {
		last := rows[len(rows)-1]
		sv := last.RevenueCents
		if params.Sort.Field == "units_sold" {
			sv = last.UnitsSold
		}
		next = h.cursors.Encode(params.Binding(), sv, last.ProductID)
	}
	httpx.WritePrivateList(c, h.baseURL, data, next)
}

// salesRebuild empties the report and replays the stored events into it.
// The replay runs on the bus, so the answer is 202: poll the report.
func (h *Handlers) salesRebuild(c *gin.Context) {
	if err := h.sales.Rebuild(c.Request.Context()); err != nil {
		httpx.Error(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusAccepted, gin.H{"status": "rebuilding"})
}
