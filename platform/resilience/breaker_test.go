package resilience

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

func TestRedisBreakerTripsIgnoresGoneCallersAndLogs(t *testing.T) {
	gone, down := errors.New("caller gone"), errors.New("redis down")
	var logs bytes.Buffer
	cb := gobreaker.NewCircuitBreaker[struct{}](RedisBreaker("test-redis", 3, 500*time.Millisecond,
		func(err error) bool { return errors.Is(err, gone) }, slog.New(slog.NewJSONHandler(&logs, nil))))
	fail := func(err error) { _, _ = cb.Execute(func() (struct{}, error) { return struct{}{}, err }) }

	for i := 0; i < 10; i++ {
		fail(gone) // cancelled callers say nothing about Redis
	}
	fail(down)
	fail(down)
	if cb.State() != gobreaker.StateClosed {
		t.Fatalf("open after 2 failures (and 10 gone callers): %s", cb.State())
	}
	fail(down)
	if cb.State() != gobreaker.StateOpen {
		t.Fatalf("state %s after 3 consecutive failures, want open", cb.State())
	}
	time.Sleep(600 * time.Millisecond) // past the cooldown: one probe goes through
	if _, err := cb.Execute(func() (struct{}, error) { return struct{}{}, nil }); err != nil || cb.State() != gobreaker.StateClosed {
		t.Fatalf("probe after the cooldown: %v, state %s", err, cb.State())
	}
	out := logs.String()
	for _, want := range []string{`"level":"WARN"`, `"to":"open"`, `"level":"INFO"`, `"to":"closed"`, `"breaker":"test-redis"`} {
		if !strings.Contains(out, want) {
			t.Errorf("transition log lacks %s: %s", want, out)
		}
	}
}
