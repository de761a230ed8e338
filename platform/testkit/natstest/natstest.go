// Package natstest gives tests the real NATS JetStream of TEST_NATS_URL:
// without it the test skips, unless REQUIRE_NATS=1 (the Makefile and CI set
// both), which makes a missing server a failure.
package natstest

import (
	"os"
	"testing"
)

// URL is TEST_NATS_URL, skipping (or failing under REQUIRE_NATS=1) without it.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_NATS_URL")
	if u == "" {
		if os.Getenv("REQUIRE_NATS") == "1" {
			t.Fatal("REQUIRE_NATS=1 but TEST_NATS_URL is not set")
		}
		t.Skip("TEST_NATS_URL not set")
	}
	return u
}
