package events

import (
	"math/rand/v2"
	"time"

	"example.com/productapi/platform/ids"
)

// backoff is the delay before retry number attempt (1-based): exponential
// from base, capped at max, with full jitter (uniform in [0, cap]) so a
// burst of failures does not retry in lock-step. At least a millisecond.
func backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return time.Millisecond + rand.N(d)
}

func newLease() string { return ids.New() }
