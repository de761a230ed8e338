// Package pubsub keeps one Redis subscription alive for as long as its
// caller runs: the loop that cache invalidation and the flag change notices
// share. Each connection is its own session, so a gap (during which
// messages may have been lost) is always noticed and reported.
package pubsub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	subscribeTimeout = 2 * time.Second
	// DefaultHealthEvery: with no message for this long the subscriber
	// pings; with no reply for as long again the connection is presumed
	// dead (a silent network drop never errors on its own).
	DefaultHealthEvery = 5 * time.Second
	minBackoff         = 100 * time.Millisecond
	maxBackoff         = 5 * time.Second
)

// Handlers are what Subscribe calls; every one may be nil.
type Handlers struct {
	// Subscribed runs once a subscription is confirmed, before any of its
	// messages. resubscribed is false for the first one only: after a gap
	// the caller catches up on what it may have missed.
	Subscribed func(ctx context.Context, resubscribed bool)
	// Message receives each message's payload, one at a time.
	Message func(ctx context.Context, payload string)
	// Down reports why a session ended (not called when ctx ends); the
	// next attempt follows after a jittered backoff.
	Down func(err error)
	// HealthEvery is the keepalive (default DefaultHealthEvery).
	HealthEvery time.Duration
}

// Subscribe keeps a subscription to channel on client until ctx is done,
// reconnecting with jittered exponential backoff (100 ms to 5 s) that
// starts over after every session that got subscribed.
func Subscribe(ctx context.Context, client redis.UniversalClient, channel string, h Handlers) {
	if h.HealthEvery <= 0 {
		h.HealthEvery = DefaultHealthEvery
	}
	backoff := minBackoff
	for attempt := 0; ; attempt++ {
		subscribed, err := session(ctx, client, channel, attempt > 0, h)
		if ctx.Err() != nil {
			return
		}
		if h.Down != nil {
			h.Down(err)
		}
		if subscribed {
			backoff = minBackoff
		}
		sleep := backoff/2 + rand.N(backoff/2+1) // jitter: instances do not reconnect in lockstep
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(sleep):
		}
	}
}

// session is one subscription on a fresh connection; it returns when the
// connection fails or ctx ends, and whether it got subscribed. go-redis
// could reconnect a PubSub by itself, but silently: a new session per
// connection is how gaps are noticed.
func session(ctx context.Context, client redis.UniversalClient, channel string, afterGap bool, h Handlers) (bool, error) {
	ps := client.Subscribe(ctx) // no channel yet: no I/O
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // unblocks Receive
	defer stop()

	sctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	err := ps.Subscribe(sctx, channel)
	if err == nil {
		var msg any
		if msg, err = ps.ReceiveTimeout(sctx, subscribeTimeout); err == nil {
			if _, ok := msg.(*redis.Subscription); !ok {
				err = fmt.Errorf("unexpected %T before subscription confirmation", msg)
			}
		}
	}
	cancel()
	if err != nil {
		return false, fmt.Errorf("subscribe %s: %w", channel, err)
	}
	if h.Subscribed != nil {
		h.Subscribed(ctx, afterGap)
	}

	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, h.HealthEvery)
		if err != nil {
			if !isTimeout(err) || pinged {
				return true, err
			}
			if err := ps.Ping(ctx); err != nil {
				return true, err
			}
			pinged = true
			continue
		}
		pinged = false
		if m, ok := msg.(*redis.Message); ok && h.Message != nil {
			h.Message(ctx, m.Payload)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
