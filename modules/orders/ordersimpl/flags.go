package ordersimpl

import "example.com/productapi/platform/flags"

// CheckoutEnabled is the checkout kill switch (Deps.CheckoutEnabled reads
// it): off, POST /v1/orders answers 503 with Retry-After; everything else
// keeps working.
const CheckoutEnabled = "orders.checkout_enabled"

// The module's flags join the registry before any Flags seeds it.
func init() {
	flags.Register(flags.Info{Key: CheckoutEnabled, Default: true,
		Description: "Kill switch for checkout: off makes POST /v1/orders answer 503 with Retry-After; everything else keeps working."})
}
