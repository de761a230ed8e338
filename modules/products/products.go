// Package products is the contract of the products module: the Product type,
// the Service other modules may call and its errors. It is a leaf package;
// productsimpl implements it and only main.go imports that.
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
}

// Errors with stable codes.
var (
	ErrNotFound = apperr.New(apperr.KindNotFound, "products.not_found", "product not found")
	ErrSKUTaken = apperr.New(apperr.KindConflict, "products.sku_taken", "a product with this sku already exists")
)
