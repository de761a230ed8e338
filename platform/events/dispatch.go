package events

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"example.com/productapi/platform/db"
	"example.com/productapi/platform/ids"
)

// dispatchLoop claims due deliveries and runs each on its own goroutine,
// at most Workers at a time.
func (b *Bus) dispatchLoop(ctx context.Context) {
	tick := time.NewTicker(b.cfg.PollInterval)
	defer tick.Stop()
	consumers := b.consumers()
	slots := make(chan struct{}, b.cfg.Workers)
	for {
		free := cap(slots) - len(slots)
		if free > 0 && len(consumers) > 0 && ctx.Err() == nil {
			rows, _, err := b.claim(ctx, consumers, free)
			if err != nil && ctx.Err() == nil {
				b.warn("claim", "events: claiming deliveries failed; will retry", "err", err)
			}
			for _, r := range rows {
				slots <- struct{}{}
				b.wg.Add(1)
				go func() {
					defer b.wg.Done()
					defer func() { <-slots; wake(b.dispatchWake) }()
					b.deliver(ctx, r)
				}()
			}
			if err == nil && len(rows) == free {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-b.dispatchWake:
		case <-tick.C:
		}
	}
}

// outcome of one handler run.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeRetry
	outcomeDead
	outcomeLost // the lease was lost or the bus is closing: someone else / later
)

// handlerError marks an error returned by the handler itself (its text may
// be shown to an operator); other errors are our bookkeeping failing.
type handlerError struct{ err error }

func (h *handlerError) Error() string { return h.err.Error() }
func (h *handlerError) Unwrap() error { return h.err }

var errLeaseLost = errors.New("events: delivery lease lost")

// runHandler runs the subscription's handler for ev with the inbox check,
// and finish (which removes the pending work) in the same transaction as
// the inbox row. It returns nil when the event is handled (now or before).
func (b *Bus) runHandler(ctx context.Context, sub *subscription, ev Event, transport string, finish func(ctx context.Context) error) (err error) {
	ctx, span := b.consumerSpan(ctx, sub.consumer, ev, transport)
	defer func() { endSpan(span, err) }()
	// Handlers get their own deadline, detached from the bus's stop signal so
	// that Close lets an in-flight handler finish instead of failing it.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.HandlerTimeout)
	defer cancel()
	if sub.opts.Transactional {
		return db.Transact(hctx, b.cfg.DB, func(tctx context.Context) error {
			tx := db.Conn(tctx, b.cfg.DB)
			done, err := inboxHas(tx, sub.consumer, ev.ID)
			if err != nil {
				return err
			}
			if !done {
				if err := call(tctx, sub.h, ev); err != nil {
					return &handlerError{err}
				}
				if err := markHandled(tx, sub.consumer, ev.ID); err != nil {
					return err
				}
			}
			return finish(tctx)
		})
	}
	done, err := inboxHas(b.cfg.DB.WithContext(hctx), sub.consumer, ev.ID)
	if err != nil {
		return err
	}
	if !done {
		if err := call(hctx, sub.h, ev); err != nil {
			return &handlerError{err}
		}
	}
	// The remote effect happened; record it even if the handler used up
	// its deadline.
	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer bcancel()
	return db.Transact(bctx, b.cfg.DB, func(tctx context.Context) error {
		tx := db.Conn(tctx, b.cfg.DB)
		if !done {
			if err := tx.Clauses(doNothing).Create(&inboxRow{Consumer: sub.consumer, EventID: ev.ID, ProcessedAt: now()}).Error; err != nil {
				return err
			}
		}
		return finish(tctx)
	})
}

// call runs h, turning a panic into an error so one bad handler cannot take
// the process down.
func call(ctx context.Context, h Handler, ev Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, ev)
}

// deliver runs one claimed delivery and records the outcome.
func (b *Bus) deliver(ctx context.Context, c claimed) outcome {
	sub := b.subscription(c.Consumer)
	if sub == nil {
		return outcomeLost
	}
	ev := c.event()
	err := b.runHandler(ctx, sub, ev, "outbox", func(tctx context.Context) error {
		ok, err := releaseDelivery(db.Conn(tctx, b.cfg.DB), c.Consumer, c.EventID, c.Lease)
		if err == nil && !ok {
			err = errLeaseLost
		}
		return err
	})
	if err == nil {
		b.m.deliveries.WithLabelValues(c.Consumer, "ok").Inc()
		return outcomeOK
	}
	if errors.Is(err, errLeaseLost) {
		b.warn("lease:"+c.Consumer, "events: delivery lease expired before the handler finished; another worker owns it",
			"consumer", c.Consumer, "event_id", c.EventID, "timeout", b.cfg.HandlerTimeout)
		return outcomeLost
	}
	return b.fail(ctx, c, err)
}

// fail records a failed run: back off and retry, or dead-letter after
// MaxAttempts or a Permanent error. Bookkeeping uses its own short context
// so a closing bus still records what happened.
func (b *Bus) fail(ctx context.Context, c claimed, cause error) outcome {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	attempts := c.Attempts + 1
	msg := errorText(cause)
	b.logFailure(c.Consumer, c.Type, c.EventID, attempts, cause)
	tx := b.cfg.DB.WithContext(bctx)
	if IsPermanent(cause) || attempts >= b.cfg.MaxAttempts {
		err := db.Transact(bctx, b.cfg.DB, func(tctx context.Context) error {
			ok, err := releaseDelivery(db.Conn(tctx, b.cfg.DB), c.Consumer, c.EventID, c.Lease)
			if err != nil || !ok {
				return errors.Join(err, errLeaseLost)
			}
			return b.insertDeadLetter(tctx, c.Consumer, c.event(), msg, attempts)
		})
		if err != nil {
			if !errors.Is(err, errLeaseLost) {
				b.warn("deadletter", "events: recording a dead letter failed; the delivery will run again when its lease expires", "err", err)
			}
			return outcomeLost
		}
		b.m.deliveries.WithLabelValues(c.Consumer, "dead").Inc()
		return outcomeDead
	}
	res := tx.Model(&deliveryRow{}).Where("consumer = ? AND event_id = ? AND lease = ?", c.Consumer, c.EventID, c.Lease).
		Updates(map[string]any{
			"attempts": attempts, "next_attempt_at": now().Add(backoff(attempts, b.cfg.BaseBackoff, b.cfg.MaxBackoff)),
			"last_error": msg, "lease": "", "locked_until": nil,
		})
	if res.Error != nil {
		b.warn("reschedule", "events: rescheduling a delivery failed; it will run again when its lease expires", "err", res.Error)
		return outcomeLost
	}
	b.m.deliveries.WithLabelValues(c.Consumer, "retry").Inc()
	return outcomeRetry
}

// insertDeadLetter stores a dead letter in the unit of work of ctx.
func (b *Bus) insertDeadLetter(ctx context.Context, consumer string, ev Event, msg string, attempts int) error {
	row := deadLetterRow{ID: ids.New(), Consumer: consumer, EventID: ev.ID, EventType: ev.Type, EventKey: ev.Key,
		Payload: string(ev.Payload), Error: msg, Attempts: attempts, FailedAt: now()}
	if err := db.Conn(ctx, b.cfg.DB).Create(&row).Error; err != nil {
		return err
	}
	db.AfterCommit(ctx, func(context.Context) {
		b.m.dead.Inc()
		b.log.Error("event dead-lettered", "consumer", consumer, "event_type", ev.Type, "event_id", ev.ID,
			"dead_letter_id", row.ID, "attempts", attempts, "err", msg)
	})
	return nil
}

func (b *Bus) logFailure(consumer, typ, eventID string, attempts int, cause error) {
	b.warn("handler:"+consumer+":"+typ, "event handler failed", "consumer", consumer, "event_type", typ,
		"event_id", eventID, "attempt", attempts, "err", cause)
}

// maxErrorText bounds the stored error text.
const maxErrorText = 500

// errorText is what an operator sees: the handler's own error string (first
// line, bounded), or a generic phrase when our bookkeeping failed, so SQL
// and driver text never reach the dead-letter API.
func errorText(err error) string {
	var he *handlerError
	if !errors.As(err, &he) {
		if errors.Is(err, context.DeadlineExceeded) {
			return "delivery timed out"
		}
		return "delivery bookkeeping failed (see logs)"
	}
	s := he.err.Error()
	if errors.Is(he.err, context.DeadlineExceeded) && s == context.DeadlineExceeded.Error() {
		s = "handler timed out"
	}
	for i, r := range s {
		if r == '\n' {
			s = s[:i]
			break
		}
	}
	if len(s) > maxErrorText {
		s = s[:maxErrorText]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
