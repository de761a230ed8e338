// Package products is the contract of the products module: the Product type,
// the Service other modules may call and its errors. It is a leaf package;
// productsimpl implements it and only the composition root imports that.
package products

import (
	"context"
	"time"

	"example.com/productapi/platform/apperr"
)

// Product is the public representation of a catalogue item.
type Product struct {
	ID          string    `json:"id"`
	SKU         string    `json:"sku"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceCents  int64     `json:"price_cents"`
	Currency    string    `json:"currency"`
	Stock       int64     `json:"stock"`
	Category    string    `json:"category"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Service is what other modules may ask of products. Over a network it would
// be an HTTP client with the same methods.
type Service interface {
	// Get returns a product by ID (through the cache) or ErrNotFound.
	Get(ctx context.Context, id string) (Product, error)

	// Reserve takes stock for every line, all or nothing, and returns the
	// catalogue's current name, SKU and price for each line (prices are
	// never taken from a client). It is idempotent per reservationID (an
	// order ID): calling it again returns the first result and takes no
	// more stock. Run it inside the caller's unit of work (platform/db
	// Transact) so the reservation commits or rolls back with the order.
	// Errors: ErrNotFound naming the product (as a validation-style
	// message), ErrInsufficientStock naming the product, ErrMixedCurrency.
	Reserve(ctx context.Context, reservationID string, lines []Line) ([]ReservedLine, error)

	// Release returns the stock of a reservation, once: releasing twice, or
	// a reservation that never existed, is a no-op that reports false.
	Release(ctx context.Context, reservationID string) (released bool, err error)
}

// Seeder loads demo products in bulk. It is not for peers: the composition
// root's `seed` command (and benchmarks) use it, so it stays out of Service.
type Seeder interface {
	// Seed inserts n products in batches of batch, calling progress with
	// the running total after each batch, and drops every cached list.
	Seed(ctx context.Context, n, batch int, progress func(done int)) error
}

// Line asks for quantity units of a product.
type Line struct {
	ProductID string
	Quantity  int64
}

// ReservedLine is a line as the catalogue priced it at reservation time.
type ReservedLine struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	Currency       string `json:"currency"`
	Quantity       int64  `json:"quantity"`
}

// Errors with stable codes.
var (
	ErrNotFound = apperr.New(apperr.KindNotFound, "products.not_found", "product not found")
	ErrSKUTaken = apperr.New(apperr.KindConflict, "products.sku_taken", "a product with this sku already exists")
	// ErrInsufficientStock's message names the product (WithMessage).
	ErrInsufficientStock = apperr.New(apperr.KindConflict, "products.insufficient_stock", "not enough stock")
	// ErrUnknownProduct is a line naming a product that does not exist.
	ErrUnknownProduct = apperr.New(apperr.KindValidation, "products.unknown_product", "unknown product")
	ErrMixedCurrency  = apperr.New(apperr.KindValidation, "products.mixed_currency", "all products of one reservation must share a currency")
)

// EventProductChanged is published (through the outbox, in the transaction
// of the write) when an admin creates, updates or deletes a product. Schema:
// docs/events/products.product_changed.v1.schema.json.
const EventProductChanged = "products.product_changed.v1"

// ProductChangedV1 is the payload of products.product_changed.v1. Stock
// taken or returned by reservations is not announced here: the orders
// events carry those quantities.
type ProductChangedV1 struct {
	ProductID  string    `json:"product_id"`
	Change     string    `json:"change"` // created | updated | deleted
	Version    int64     `json:"version,omitempty"`
	SKU        string    `json:"sku,omitempty"`
	Name       string    `json:"name,omitempty"`
	PriceCents *int64    `json:"price_cents,omitempty"`
	Currency   string    `json:"currency,omitempty"`
	Stock      *int64    `json:"stock,omitempty"`
	Category   *string   `json:"category,omitempty"`
	ChangedAt  time.Time `json:"changed_at"`
}
