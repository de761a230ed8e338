// Package events is the event backbone modules use to react to each other
// without coupling: a transactional outbox (events are written in the same
// transaction as the change that caused them), a relay that delivers them
// at least once to subscribers (in-process by default, NATS JetStream when
// configured), idempotent consumers (an inbox of processed event IDs per
// consumer), retries with exponential backoff and jitter, and a dead-letter
// store an operator can list and replay. It knows nothing of any module.
//
// # Tables (migrations/events)
//
//   - event_outbox: every appended event, in seq order. Rows are kept after
//     publication so Redeliver can rebuild a read model from scratch.
//   - event_deliveries: pending work of one consumer for one event (the
//     in-process transport, dead-letter replays and Redeliver). A worker
//     claims a row with a lease (lease token + locked_until) in a short
//     transaction and never holds a transaction while a handler calls a
//     remote system; a crashed worker's lease simply expires.
//   - event_inbox: (consumer, event_id) pairs already handled.
//   - event_dead_letters: deliveries given up on, until replayed.
//
// # Guarantees
//
//   - An event appended in a unit of work that rolls back is never delivered;
//     one that commits is delivered at least once to every consumer
//     subscribed to its type (subscriptions are per process: every instance
//     runs the same binary, so they agree).
//   - Exactly once in effect: a Transactional handler runs in the same
//     database transaction that records the inbox row and removes the
//     pending delivery, so its database writes and "handled" commit or roll
//     back together; a repeated delivery finds the inbox row and is skipped.
//     Non-transactional handlers (remote calls) see at-least-once delivery
//     and must be idempotent themselves (use the event ID as the remote
//     idempotency key).
//   - Order, in-process: per consumer and per non-empty Key, events are
//     handled one at a time in outbox order (seq), across instances too; a
//     failing event blocks later events of the same key until it succeeds
//     or is dead-lettered. Events of different keys run concurrently.
//     Replays of dead letters and Redeliver runs bypass nothing else but
//     are operator actions, so they may interleave with fresh events.
//   - Order, JetStream: the relay publishes in seq order, and each consumer
//     handles its messages one at a time, so order holds while nothing
//     fails; a retried message (NAK with delay) may be overtaken.
//   - seq is assigned at insert time: two concurrent transactions touching
//     the same aggregate are ordered by their Append calls. Append as the
//     last statement of a unit of work, after the aggregate's row is locked
//     or updated, so seq order follows the order of commits.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"time"
)

// Event is one domain event as stored in the outbox and delivered to
// handlers. Type is versioned: "orders.order_placed.v1".
type Event struct {
	ID         string          `json:"id"`          // UUIDv7, the idempotency key of every consumer
	Type       string          `json:"type"`        // <module>.<event>.v<N>
	Key        string          `json:"key"`         // aggregate ID (order ID, product ID); ordering hint
	OccurredAt time.Time       `json:"occurred_at"` // UTC
	Payload    json.RawMessage `json:"payload"`     // documented per type in docs/events.md
	// Headers carry the W3C trace context of the unit of work that appended
	// the event ("traceparent", "tracestate", "baggage"); empty when it was
	// not traced. Handlers run in a consumer span continuing that trace.
	Headers map[string]string `json:"headers,omitempty"`
}

// typePattern is the event type naming rule: <module>.<event>.v<N>.
var typePattern = regexp.MustCompile(`^[a-z]+\.[a-z_]+\.v[0-9]+$`)

// ValidType reports whether typ follows <module>.<event>.v<N>.
func ValidType(typ string) bool { return typePattern.MatchString(typ) }

// Handler handles one event for one consumer. Returning nil marks the event
// handled for that consumer; an error schedules a retry (or a dead letter
// after MaxAttempts, or at once for Permanent errors). The context carries
// a deadline (Config.HandlerTimeout) and, for transactional subscriptions,
// the unit of work.
type Handler func(ctx context.Context, e Event) error

// SubscribeOptions tunes one subscription.
type SubscribeOptions struct {
	// Transactional (default true via Subscribe): the handler runs inside a db.Transact unit of work
	// that also records the inbox row, so a handler that only writes to the database is exactly-once in effect
	// (its store calls use db.Conn(ctx, base) and join the tx). Set false for handlers that call remote
	// systems (payments): then the inbox row is written after the handler succeeds and the handler must be
	// idempotent itself.
	Transactional bool
}

type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Permanent marks a handler error that must not be retried: the event is
// dead-lettered for that consumer at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or anything it wraps) came from Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
