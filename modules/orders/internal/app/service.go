// Package app holds the orders module's use cases; it owns transactions.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"example.com/productapi/platform/audit"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/internal/domain"
	"example.com/productapi/modules/orders/internal/store"
	"example.com/productapi/modules/products"
	"example.com/productapi/platform/apperr"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/ids"
	"example.com/productapi/platform/query"
)

// Publisher appends events to the outbox inside the caller's unit of work
// (platform/events.Bus).
type Publisher interface {
	Append(ctx context.Context, typ, key string, payload any) (events.Event, error)
}

// Caller is who asks: a user ID and whether they are an admin. System
// callers (the payment driver) are admins.
type Caller struct {
	UserID string
	Admin  bool
}

// Service implements the orders use cases and orders.Service.
type Service struct {
	store    *store.Store
	products products.Service
	bus      Publisher
	log      *slog.Logger
	placed   prometheus.Counter
	trail    *audit.Log // admins' transitions (ship, cancel) are recorded here
}

var _ orders.Service = (*Service)(nil)

func New(st *store.Store, p products.Service, bus Publisher, log *slog.Logger, placed prometheus.Counter, trail *audit.Log) *Service {
	return &Service{store: st, products: p, bus: bus, log: log, placed: placed, trail: trail}
}

// Placed is the answer to a checkout: the response to send, which is the
// stored one when Replayed.
type Placed struct {
	OrderID  string
	Status   int
	Body     []byte
	Replayed bool
}

// Place runs a checkout in one unit of work: claim the idempotency key,
// reserve stock (products prices the lines), insert the order and its
// items, append orders.order_placed.v1 and store the response for replays.
// If any step fails, nothing of it remains (a failed checkout stores no
// response: retrying with the same key runs it again).
func (s *Service) Place(ctx context.Context, userID, key string, lines []domain.Line) (Placed, error) {
	if err := domain.CheckLines(lines); err != nil {
		return Placed{}, err
	}
	if err := s.refuseErased(ctx, userID); err != nil {
		return Placed{}, err
	}
	hash := domain.RequestHash(lines)
	var out Placed
	err := s.store.Transact(ctx, func(ctx context.Context) error {
		now := store.Now()
		orderID := ids.New()
		claimed, err := s.store.ClaimKey(ctx, store.KeyRow{UserID: userID, IdemKey: key, RequestHash: hash, OrderID: orderID, CreatedAt: now})
		if err != nil {
			return err
		}
		if !claimed {
			k, err := s.store.Key(ctx, userID, key)
			if errors.Is(err, orders.ErrNotFound) { // purged between the two statements
				return orders.ErrIdempotencyInFlight.WithRetryAfter(time.Second)
			}
			out, err = replayOf(k, err, hash)
			return err
		}
		pl := make([]products.Line, len(lines))
		for i, l := range lines {
			pl[i] = products.Line{ProductID: l.ProductID, Quantity: l.Quantity}
		}
		reserved, err := s.products.Reserve(ctx, orderID, pl)
		if err != nil {
			return err
		}
		row := store.Row{ID: orderID, UserID: userID, Status: orders.StatusPending, Version: 1, CreatedAt: now, UpdatedAt: now}
		items := make([]store.ItemRow, len(reserved))
		evItems := make([]orders.EventItem, len(reserved))
		for i, r := range reserved {
			row.Currency = r.Currency
			row.TotalCents += r.UnitPriceCents * r.Quantity
			items[i] = store.ItemRow{OrderID: orderID, LineNo: i + 1, ProductID: r.ProductID, SKU: r.SKU, Name: r.Name,
				UnitPriceCents: r.UnitPriceCents, Quantity: r.Quantity}
			evItems[i] = eventItem(items[i])
		}
		if err := s.store.Insert(ctx, &row, items); err != nil {
			return err
		}
		if _, err := s.bus.Append(ctx, orders.EventOrderPlaced, orderID, orders.OrderPlacedV1{
			OrderID: orderID, UserID: userID, TotalCents: row.TotalCents, Currency: row.ToOrder().Currency,
			Items: evItems, PlacedAt: now,
		}); err != nil {
			return err
		}
		body, err := json.Marshal(row.ToOrder())
		if err != nil {
			return err
		}
		if err := s.store.SaveResponse(ctx, userID, key, 201, body); err != nil {
			return err
		}
		out = Placed{OrderID: orderID, Status: 201, Body: body}
		return nil
	})
	if err != nil {
		return Placed{}, err
	}
	if !out.Replayed && s.placed != nil {
		s.placed.Inc()
	}
	return out, nil
}

// replayOf is the answer a known key gives (k as read, with its error):
// the stored response for the same request, 422 for another request under
// the key, 409 while the first one is still running.
func replayOf(k store.KeyRow, err error, hash string) (Placed, error) {
	switch {
	case err != nil:
		return Placed{}, err
	case k.RequestHash != hash:
		return Placed{}, orders.ErrIdempotencyKeyReused
	case k.ResponseStatus == 0:
		return Placed{}, orders.ErrIdempotencyInFlight.WithRetryAfter(time.Second)
	}
	return Placed{OrderID: k.OrderID, Status: k.ResponseStatus, Body: []byte(k.ResponseBody), Replayed: true}, nil
}

// Replay answers a checkout from the idempotency store alone, without
// placing anything: known reports whether the caller's key is there. It is
// what POST /v1/orders does while checkout is switched off: a replay is
// not a new checkout, so it still gets its stored response.
func (s *Service) Replay(ctx context.Context, userID, key string, lines []domain.Line) (_ Placed, known bool, _ error) {
	if err := domain.CheckLines(lines); err != nil {
		return Placed{}, false, nil // cannot match a stored request
	}
	if err := s.refuseErased(ctx, userID); err != nil {
		return Placed{}, true, err
	}
	k, err := s.store.Key(ctx, userID, key)
	if errors.Is(err, orders.ErrNotFound) {
		return Placed{}, false, nil
	}
	out, err := replayOf(k, err, domain.RequestHash(lines))
	return out, true, err
}

func eventItem(r store.ItemRow) orders.EventItem {
	return orders.EventItem{ProductID: r.ProductID, SKU: r.SKU, Name: r.Name, UnitPriceCents: r.UnitPriceCents, Quantity: r.Quantity}
}

// Row returns an order's row for the caller: someone else's order is
// ErrNotFound unless the caller is an admin, as is a malformed ID.
func (s *Service) Row(ctx context.Context, c Caller, id string, cols []string) (store.Row, error) {
	if !ids.Valid(id) {
		return store.Row{}, orders.ErrNotFound
	}
	if len(cols) > 0 {
		cols = append(slices.Clip(cols), "user_id") // ownership needs it
	}
	r, err := s.store.Get(ctx, id, cols...)
	if err != nil {
		return store.Row{}, err
	}
	if !c.Admin && r.UserID != c.UserID {
		return store.Row{}, orders.ErrNotFound
	}
	return r, nil
}

// Items loads the items of a page of orders in one query.
func (s *Service) Items(ctx context.Context, orderIDs []string, cols []string) (map[string][]store.ItemRow, error) {
	return s.store.Items(ctx, orderIDs, cols)
}

// List returns a page of orders. Customers only ever see their own: their
// scope is ANDed with the filters, so a user_id filter naming someone else
// returns an empty page (filters narrow, never widen).
func (s *Service) List(ctx context.Context, c Caller, p query.Params, ks *query.Keyset, cols []string) ([]store.Row, bool, error) {
	var f store.ListFilter
	if st, ok := p.String("status"); ok {
		if !domain.ValidStatus(st) {
			return nil, false, apperr.Invalid(query.CodeFilter, "filter status must be one of pending, paid, shipped, cancelled, payment_failed")
		}
		f.Status = st
	}
	uid, hasUID := p.String("user_id")
	switch {
	case !c.Admin && hasUID && uid != c.UserID:
		return nil, false, nil
	case !c.Admin:
		f.UserID = c.UserID
	case hasUID:
		f.UserID = uid
	}
	return s.store.List(ctx, f, p, ks, cols)
}

// Get implements orders.Service.
func (s *Service) Get(ctx context.Context, id string) (orders.Order, error) {
	r, err := s.Row(ctx, Caller{Admin: true}, id, nil)
	if err != nil {
		return orders.Order{}, err
	}
	return s.withItems(ctx, r)
}

func (s *Service) withItems(ctx context.Context, r store.Row) (orders.Order, error) {
	items, err := s.store.Items(ctx, []string{r.ID}, allItemColumns)
	if err != nil {
		return orders.Order{}, err
	}
	o := r.ToOrder()
	o.Items = toItems(items[r.ID])
	return o, nil
}

var allItemColumns = []string{"product_id", "sku", "name", "unit_price_cents", "quantity"}

func toItems(rows []store.ItemRow) []orders.Item {
	out := make([]orders.Item, len(rows))
	for i, r := range rows {
		out[i] = r.ToItem()
	}
	return out
}

// ListForUser implements orders.Service.
func (s *Service) ListForUser(ctx context.Context, userID string) ([]orders.Order, error) {
	rows, err := s.store.ForUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	idList := make([]string, len(rows))
	for i, r := range rows {
		idList[i] = r.ID
	}
	items, err := s.store.Items(ctx, idList, allItemColumns)
	if err != nil {
		return nil, err
	}
	out := make([]orders.Order, len(rows))
	for i, r := range rows {
		out[i] = r.ToOrder()
		out[i].Items = toItems(items[r.ID])
	}
	return out, nil
}

// errRaced means another transition changed the order between our read
// and our conditional update; the transition is evaluated again.
var errRaced = errors.New("order changed concurrently")

// Transition applies an action to an order for a caller. ifMatch > 0 is the
// version the client last saw (If-Match): a mismatch is a 412. Two racing
// transitions cannot both win: the UPDATE is conditional on the version
// read, the loser re-reads and is judged against the new status (usually a
// 409). Stock is released in the same transaction as entering a final
// status that releases it, and the event is appended there too.
func (s *Service) Transition(ctx context.Context, c Caller, id string, a domain.Action, ifMatch int64, detail transitionDetail) (store.Row, error) {
	if !ids.Valid(id) {
		return store.Row{}, orders.ErrNotFound
	}
	var out store.Row
	for attempt := 0; ; attempt++ {
		err := s.store.Transact(ctx, func(ctx context.Context) error {
			r, err := s.Row(ctx, c, id, nil)
			if err != nil {
				return err
			}
			if ifMatch > 0 && r.Version != ifMatch {
				return errPrecondition
			}
			to, err := domain.Next(r.Status, a)
			if err != nil {
				return err
			}
			now := store.Now()
			ok, err := s.store.SetStatus(ctx, id, r.Version, r.Status, to, now)
			if err != nil {
				return err
			}
			if !ok {
				return errRaced
			}
			if domain.ReleasesStock(to) {
				if _, err := s.products.Release(ctx, id); err != nil {
					return err
				}
			}
			from := r.Status
			r.Status, r.Version, r.UpdatedAt = to, r.Version+1, now
			if err := s.appendTransition(ctx, r, from, c, detail); err != nil {
				return err
			}
			if c.Admin && s.trail != nil { // an admin's action on an order, in its unit of work
				if err := s.trail.Record(ctx, audit.Entry{Action: "orders." + string(a), TargetType: "order", TargetID: id,
					Before: map[string]any{"status": from}, After: map[string]any{"status": to}}); err != nil {
					return err
				}
			}
			out = r
			return nil
		})
		if errors.Is(err, errRaced) && attempt < 10 {
			continue
		}
		if errors.Is(err, errRaced) {
			return store.Row{}, orders.ErrInvalidTransition.WithMessage("the order is changing concurrently; fetch it and retry")
		}
		return out, err
	}
}

// transitionDetail carries what some events need beyond the order.
type transitionDetail struct {
	ChargeID string
	Reason   string
}

func (s *Service) appendTransition(ctx context.Context, r store.Row, from orders.Status, c Caller, d transitionDetail) error {
	var typ string
	var payload any
	switch r.Status {
	case orders.StatusPaid, orders.StatusCancelled:
		items, err := s.store.Items(ctx, []string{r.ID}, allItemColumns)
		if err != nil {
			return err
		}
		ev := make([]orders.EventItem, len(items[r.ID]))
		for i, it := range items[r.ID] {
			ev[i] = eventItem(it)
		}
		o := r.ToOrder()
		if r.Status == orders.StatusPaid {
			typ, payload = orders.EventOrderPaid, orders.OrderPaidV1{OrderID: r.ID, UserID: r.UserID, TotalCents: r.TotalCents,
				Currency: o.Currency, Items: ev, ChargeID: d.ChargeID, PaidAt: r.UpdatedAt}
		} else {
			by := "customer"
			if c.Admin {
				by = "admin"
			}
			typ, payload = orders.EventOrderCancelled, orders.OrderCancelledV1{OrderID: r.ID, UserID: r.UserID, PreviousStatus: from,
				CancelledBy: by, TotalCents: r.TotalCents, Currency: o.Currency, Items: ev, CancelledAt: r.UpdatedAt}
		}
	case orders.StatusPaymentFailed:
		typ, payload = orders.EventOrderPaymentFailed, orders.OrderPaymentFailedV1{OrderID: r.ID, UserID: r.UserID,
			Reason: d.Reason, FailedAt: r.UpdatedAt}
	case orders.StatusShipped:
		typ, payload = orders.EventOrderShipped, orders.OrderShippedV1{OrderID: r.ID, UserID: r.UserID, ShippedAt: r.UpdatedAt}
	default:
		return nil
	}
	_, err := s.bus.Append(ctx, typ, r.ID, payload)
	return err
}

// errPrecondition: If-Match names an older version.
var errPrecondition = apperr.New(apperr.KindPreconditionFailed, "precondition_failed",
	"the order changed since you read it (If-Match does not match the current ETag); fetch it again")

// Cancel cancels an order for its owner or an admin.
func (s *Service) Cancel(ctx context.Context, c Caller, id string, ifMatch int64) (store.Row, error) {
	return s.Transition(ctx, c, id, domain.ActionCancel, ifMatch, transitionDetail{})
}

// Ship ships a paid order (admins only; the route enforces the role).
func (s *Service) Ship(ctx context.Context, c Caller, id string, ifMatch int64) (store.Row, error) {
	return s.Transition(ctx, c, id, domain.ActionShip, ifMatch, transitionDetail{})
}

// PurgeKeys deletes idempotency keys older than ttl.
func (s *Service) PurgeKeys(ctx context.Context, ttl time.Duration) (int64, error) {
	return s.store.PurgeKeys(ctx, store.Now().Add(-ttl))
}
