// Package testkit holds what the test helpers under it share: the rule for
// a missing external dependency. Locally a test that needs a server which
// is not there skips; CI sets REQUIRE_<X>=1 so the same absence fails
// instead of passing silently.
package testkit

import (
	"fmt"
	"os"
	"testing"
)

// Unavailable ends tb because a dependency is missing: Fatal when the
// environment variable require is "1", Skip otherwise. why says what is
// missing and how to provide it.
func Unavailable(tb testing.TB, require, why string) {
	tb.Helper()
	if os.Getenv(require) == "1" {
		tb.Fatalf("%s=1 but %s", require, why)
	}
	tb.Skipf("%s (set %s=1 to make this a failure)", why, require)
}

// Env returns the environment variable name, ending tb with Unavailable
// when it is empty.
func Env(tb testing.TB, name, require string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		Unavailable(tb, require, fmt.Sprintf("%s is not set", name))
	}
	return v
}
