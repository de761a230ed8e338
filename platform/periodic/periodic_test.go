package periodic

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryRunsUntilTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var rounds atomic.Int64
	done := make(chan struct{})
	go func() {
		Every(ctx, 5*time.Millisecond, func(context.Context) {
			if rounds.Add(1) == 3 {
				cancel()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return after its context ended")
	}
	if n := rounds.Load(); n != 3 {
		t.Fatalf("%d rounds, want exactly 3 (none after the cancel)", n)
	}
}

func TestEveryWaitsOneIntervalBeforeTheFirstRound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	called := false
	Every(ctx, time.Hour, func(context.Context) { called = true })
	if called {
		t.Fatal("a round ran before the first interval passed")
	}
}
