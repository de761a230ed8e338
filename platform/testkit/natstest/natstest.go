// Package natstest gives tests the real NATS JetStream of TEST_NATS_URL:
// without it the test skips, unless REQUIRE_NATS=1 (the Makefile and CI set
// both), which makes a missing server a failure.
package natstest

import (
	"testing"

	"example.com/productapi/platform/testkit"
)

// URL is TEST_NATS_URL, skipping (or failing under REQUIRE_NATS=1) without it.
func URL(t testing.TB) string {
	t.Helper()
	return testkit.Env(t, "TEST_NATS_URL", "REQUIRE_NATS")
}
