package productsimpl

import "example.com/productapi/platform/flags"

const (
	// SearchEnabled sheds full-text search: off, a product list using q
	// answers 503; lists without q keep working.
	SearchEnabled = "products.search_enabled"
	// SearchSKUMatch is a percentage rollout (fractional targeting on the
	// user ID, sticky per user): on, the q filter of GET /v1/products also
	// matches products whose SKU starts with the term (case-insensitive),
	// besides the name match. Because the result depends on the caller,
	// products adds the evaluated value to the list's cache key (and keeps
	// Vary: Authorization) while the rollout runs.
	SearchSKUMatch = "products.search_sku_match"
)

// The module's flags join the registry before any Flags seeds it.
func init() {
	flags.Register(
		flags.Info{Key: SearchEnabled, Default: true,
			Description: "Product search: off makes a product list using q answer 503; lists without q keep working."},
		flags.Info{Key: SearchSKUMatch, Default: false,
			Description: "Rollout: the q filter of product lists also matches SKU prefixes. Fractional on the user ID (sticky); raise the on share to widen it.",
			Targeting:   `{"fractional":[["on",10],["off",90]]}`},
	)
}
