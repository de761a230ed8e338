// Package testkit holds what the test helpers under it share: the rule for
// a missing external dependency (locally a test that needs a server which
// is not there skips; CI sets REQUIRE_<X>=1 so the same absence fails
// instead of passing silently), the one Eventually for every "wait until",
// and the repository root for tests that read its files.
package testkit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
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

// Eventually polls cond until it holds and returns how long that took;
// when within passes first, tb fails naming what it waited for. The pause
// between polls starts at 1 ms, so a short wait ends (and is measured)
// promptly, and doubles up to 50 ms, so a long one does not load the
// machine with polls.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 50*time.Millisecond) {
		if time.Since(start) > within {
			tb.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(pause)
	}
	return time.Since(start)
}

// RepoRoot is the directory of the nearest go.mod at or above the working
// directory: the repository root, whose files (configs/, web/, docs/, ...)
// a test reads by the same paths an operator uses.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}
