package testkit

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	calls := 0
	took := Eventually(t, time.Second, "the third poll", func() bool { calls++; return calls == 3 })
	if calls != 3 || took <= 0 || took > time.Second {
		t.Fatalf("calls %d, took %s; want 3 calls within 1s", calls, took)
	}
}

func TestEventuallyFailsAfterTheTimeout(t *testing.T) {
	rec := &recorder{T: t}
	done := make(chan struct{})
	go func() { // Fatalf ends the goroutine, as it ends a test
		defer close(done)
		Eventually(rec, 20*time.Millisecond, "never", func() bool { return false })
	}()
	<-done
	if rec.failed != "timed out after 20ms waiting for never" {
		t.Fatalf("failure %q", rec.failed)
	}
}

// recorder keeps a Fatalf instead of failing the test that runs it.
type recorder struct {
	*testing.T
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
