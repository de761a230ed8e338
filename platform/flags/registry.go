package flags

import (
	"fmt"
	"slices"
)

// The registry: every flag the code reads is a constant of the package
// that reads it, registered with its description and default. The
// platform's own flags are here; a module declares and registers its flags
// itself (ordersimpl, productsimpl), so the platform names no module's
// feature. Code reads flags only through those constants
// (flags.Enabled(ctx, ordersimpl.CheckoutEnabled)), never through string
// literals, so a grep for the constant finds every place a flag acts.
//
// A flag missing from the database (and from configs/flags.json) is seeded
// on start from its registry default, so a fresh install always has every
// flag the code asks for.
const (
	// L2CacheEnabled: off, the distributed (Redis) cache level is bypassed.
	L2CacheEnabled = "cache.l2_enabled"
	// RateLimitEnabled: off, requests are not rate limited.
	RateLimitEnabled = "ratelimit.enabled"
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

// registry lists every registered flag, in registration order. It is
// written only by Register, from package initialisation, so it is complete
// and read-only before any Flags exists.
var registry = []Info{
	{Key: L2CacheEnabled, Default: true, Description: "Distributed (Redis) cache level: off bypasses it; the in-process level keeps working."},
	{Key: RateLimitEnabled, Default: true, Description: "Rate limiting: off disables limiting (RateLimit headers may be omitted)."},
}

// Register adds the flags a package reads to the registry. Call it from
// that package's init function: the registry must be complete
// before the first Flags seeds it, and it is never written afterwards. A
// malformed or already registered key is a programming error and panics.
func Register(infos ...Info) {
	for _, i := range infos {
		if !ValidKey(i.Key) || i.Description == "" {
			panic(fmt.Sprintf("flags: Register(%q): invalid key or no description", i.Key))
		}
		if _, dup := Described(i.Key); dup {
			panic(fmt.Sprintf("flags: Register(%q): already registered", i.Key))
		}
		registry = append(registry, i)
	}
}

// Registered lists every registered flag, in registration order.
func Registered() []Info { return slices.Clone(registry) }

// Described returns the registry entry of key.
func Described(key string) (Info, bool) {
	for _, i := range registry {
		if i.Key == key {
			return i, true
		}
	}
	return Info{}, false
}
