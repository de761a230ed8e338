// Package periodic runs background work on a fixed interval for as long as
// a context lives: health probes, replica lag checks, flag polling, stats
// snapshots. One place for the ticker loop so every such job stops the same
// way (at once when its context ends, never mid-call of a new round).
package periodic

import (
	"context"
	"time"
)

// Every calls fn(ctx) every interval until ctx ends; the first call comes
// one interval after the start (callers that need one at once make it
// themselves). A round that overruns the interval delays the next one
// rather than overlapping it.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
