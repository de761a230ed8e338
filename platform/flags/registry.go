package flags

// The registry: every flag the code reads is a constant here, with a
// description. Code reads flags only through these constants
// (flags.Bool(ctx, flags.CheckoutEnabled, true)), never through string
// literals, so `grep flags.CheckoutEnabled` finds every place a flag acts.
//
// A flag missing from the database (and from configs/flags.json) is seeded
// on start from its registry default, so a fresh install always has every
// flag the code asks for.
const (
	// CheckoutEnabled is the checkout kill switch: off, POST /v1/orders
	// answers 503 with Retry-After; everything else keeps working.
	CheckoutEnabled = "orders.checkout_enabled"
	// SearchEnabled sheds full-text search: off, a product list using q
	// answers 503; lists without q keep working.
	SearchEnabled = "products.search_enabled"
	// L2CacheEnabled: off, the distributed (Redis) cache level is bypassed.
	L2CacheEnabled = "cache.l2_enabled"
	// RateLimitEnabled: off, requests are not rate limited.
	RateLimitEnabled = "ratelimit.enabled"
	// SearchSKUMatch is a percentage rollout (fractional targeting on the
	// user ID, sticky per user): on, the q filter of GET /v1/products also
	// matches products whose SKU starts with the term (case-insensitive),
	// besides the name match. Because the result depends on the caller,
	// products must add the evaluated value to the list's cache key (and
	// keep Vary: Authorization) while the rollout runs.
	SearchSKUMatch = "products.search_sku_match"
)

// Info describes one registered flag. Its default is defined here once:
// the seed of a missing flag and the value Enabled serves when the flag
// cannot be evaluated both come from it.
type Info struct {
	Key         string
	Description string
	// Default is the boolean value served when the flag has no targeting
	// (the seed's defaultVariant "on" or "off"), and by Enabled when the
	// flag is missing or cannot be evaluated.
	Default bool
	// Targeting is the seed's JSON Logic rule ("" for none).
	Targeting string
}

// Registry lists every flag the code reads, in a stable order.
var Registry = []Info{
	{Key: CheckoutEnabled, Default: true, Description: "Kill switch for checkout: off makes POST /v1/orders answer 503 with Retry-After; everything else keeps working."},
	{Key: SearchEnabled, Default: true, Description: "Product search: off makes a product list using q answer 503; lists without q keep working."},
	{Key: L2CacheEnabled, Default: true, Description: "Distributed (Redis) cache level: off bypasses it; the in-process level keeps working."},
	{Key: RateLimitEnabled, Default: true, Description: "Rate limiting: off disables limiting (RateLimit headers may be omitted)."},
	{Key: SearchSKUMatch, Default: false, Description: "Rollout: the q filter of product lists also matches SKU prefixes. Fractional on the user ID (sticky); raise the on share to widen it.",
		Targeting: `{"fractional":[["on",10],["off",90]]}`},
}

// Described returns the registry entry of key.
func Described(key string) (Info, bool) {
	for _, i := range Registry {
		if i.Key == key {
			return i, true
		}
	}
	return Info{}, false
}
