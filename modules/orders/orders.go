// Package orders is the contract of the orders module: the Order type, the
// Service other modules may call, its errors and its versioned event
// payloads. It is a leaf package; ordersimpl implements it and only the
// composition root imports that.
package orders

import (
	"context"
	"time"

	"example.com/productapi/platform/apperr"
)

// Status is an order's place in its life cycle.
type Status string

const (
	StatusPending       Status = "pending"
	StatusPaid          Status = "paid"
	StatusShipped       Status = "shipped"
	StatusCancelled     Status = "cancelled"
	StatusPaymentFailed Status = "payment_failed"
)

// Order is the public representation of an order. Items are only filled
// when asked for (include=items).
type Order struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Status     Status    `json:"status"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
	Items      []Item    `json:"items,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Item is one line of an order, priced from the catalogue at order time.
type Item struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	Quantity       int64  `json:"quantity"`
}

// Service is what other modules may ask of orders. Over a network it would
// be an HTTP client with the same methods.
type Service interface {
	// Get returns an order with its items, or ErrNotFound.
	Get(ctx context.Context, id string) (Order, error)
	// ListForUser returns every order of a user, oldest first, with items
	// (for the privacy export).
	ListForUser(ctx context.Context, userID string) ([]Order, error)
}

// Payments is what the composition root reads of the payment driver, and
// no peer needs: the provider's circuit state for /readyz and the console.
type Payments interface {
	// State is the payment provider circuit's state: "closed",
	// "half-open" or "open".
	State() string
}

// Errors with stable codes.
var (
	ErrNotFound          = apperr.New(apperr.KindNotFound, "orders.not_found", "order not found")
	ErrInvalidTransition = apperr.New(apperr.KindConflict, "orders.invalid_transition", "the order's status does not allow this")
	// ErrIdempotencyKeyRequired: POST /v1/orders without Idempotency-Key.
	ErrIdempotencyKeyRequired = apperr.New(apperr.KindInvalid, "orders.idempotency_key_required",
		"the Idempotency-Key header is required: send a unique value (e.g. a UUID) per order and reuse it when retrying")
	ErrIdempotencyKeyInvalid = apperr.New(apperr.KindInvalid, "orders.idempotency_key_invalid",
		"the Idempotency-Key header must be 1 to 255 visible ASCII characters")
	// ErrIdempotencyKeyReused: the key was used before with another body
	// (422; the problem lists the Idempotency-Key header as the failing field).
	ErrIdempotencyKeyReused = &apperr.Error{Kind: apperr.KindValidation, Code: "orders.idempotency_key_reused",
		Message: "this Idempotency-Key was already used with a different request body; use a new key for a new order",
		Fields:  []apperr.FieldError{{Field: "Idempotency-Key", Message: "already used with a different request body"}}}
	// ErrIdempotencyInFlight: the first request with this key has not finished yet.
	ErrIdempotencyInFlight = apperr.New(apperr.KindConflict, "orders.idempotency_in_flight",
		"a request with this Idempotency-Key is still being processed; retry shortly")
)

// Event types, versioned. Payloads are documented (with JSON Schemas) in
// docs/events.md and docs/events/<type>.schema.json.
const (
	EventOrderPlaced        = "orders.order_placed.v1"
	EventOrderPaid          = "orders.order_paid.v1"
	EventOrderPaymentFailed = "orders.order_payment_failed.v1"
	EventOrderCancelled     = "orders.order_cancelled.v1"
	EventOrderShipped       = "orders.order_shipped.v1"
)

// EventItem is an order line inside an event payload.
type EventItem struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	Quantity       int64  `json:"quantity"`
}

// OrderPlacedV1 is the payload of orders.order_placed.v1: an order was
// accepted and its stock reserved; payment is still to come.
type OrderPlacedV1 struct {
	OrderID    string      `json:"order_id"`
	UserID     string      `json:"user_id"`
	TotalCents int64       `json:"total_cents"`
	Currency   string      `json:"currency"`
	Items      []EventItem `json:"items"`
	PlacedAt   time.Time   `json:"placed_at"`
}

// OrderPaidV1 is the payload of orders.order_paid.v1. It repeats the
// lines so consumers need no other source.
type OrderPaidV1 struct {
	OrderID    string      `json:"order_id"`
	UserID     string      `json:"user_id"`
	TotalCents int64       `json:"total_cents"`
	Currency   string      `json:"currency"`
	Items      []EventItem `json:"items"`
	ChargeID   string      `json:"charge_id,omitempty"`
	PaidAt     time.Time   `json:"paid_at"`
}

// OrderPaymentFailedV1 is the payload of orders.order_payment_failed.v1:
// the provider declined; the stock was released.
type OrderPaymentFailedV1 struct {
	OrderID  string    `json:"order_id"`
	UserID   string    `json:"user_id"`
	Reason   string    `json:"reason"`
	FailedAt time.Time `json:"failed_at"`
}

// OrderCancelledV1 is the payload of orders.order_cancelled.v1: the stock
// was released. PreviousStatus "paid" means money was taken (a refund is
// due; the provider contract has no refund call yet).
type OrderCancelledV1 struct {
	OrderID        string      `json:"order_id"`
	UserID         string      `json:"user_id"`
	PreviousStatus Status      `json:"previous_status"`
	CancelledBy    string      `json:"cancelled_by"` // "customer" or "admin"
	TotalCents     int64       `json:"total_cents"`
	Currency       string      `json:"currency"`
	Items          []EventItem `json:"items"`
	CancelledAt    time.Time   `json:"cancelled_at"`
}

// OrderShippedV1 is the payload of orders.order_shipped.v1.
type OrderShippedV1 struct {
	OrderID   string    `json:"order_id"`
	UserID    string    `json:"user_id"`
	ShippedAt time.Time `json:"shipped_at"`
}
