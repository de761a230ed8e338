package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/internal/domain"
	"example.com/productapi/modules/orders/internal/payments"
	"example.com/productapi/modules/orders/internal/store"
	"example.com/productapi/platform/events"
)

// PaymentTiming tunes the payment driver.
type PaymentTiming struct {
	// ReconcileEvery is how often pending orders are swept (default 10s).
	ReconcileEvery time.Duration
	// ReconcileAfter: only orders older than this are swept, so the event
	// path has its chance first (default 1m).
	ReconcileAfter time.Duration
	// RetryBase and RetryMax bound the reconciler's exponential backoff per
	// order (defaults 5s and 5m); each delay gets +-20% jitter.
	RetryBase, RetryMax time.Duration
	// Lease is how long a charge attempt marks the order as in flight
	// (default 1m; must exceed the provider call timeout).
	Lease time.Duration
	// ProbeEvery is how often the reconciler looks at an open circuit, so
	// that the probe (and the drain of the backlog) follows the end of the
	// breaker's cooldown closely (default 500ms; a look is in memory).
	ProbeEvery time.Duration
}

func (t PaymentTiming) withDefaults() PaymentTiming {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReconcileEvery, 10*time.Second)
	def(&t.ReconcileAfter, time.Minute)
	def(&t.RetryBase, 5*time.Second)
	def(&t.RetryMax, 5*time.Minute)
	def(&t.Lease, time.Minute)
	def(&t.ProbeEvery, 500*time.Millisecond)
	return t
}

// Payer drives payments: the orders.order_placed.v1 handler charges at
// once, and a reconciler sweeps pending orders whose payment is not in
// flight (the provider was down, the bus gave up, the process died), so
// orders get paid without operator action once the provider is back. The
// order ID is the provider's idempotency key, so retries never charge twice.
//
// A charge the open circuit refuses is no attempt: it counts toward no
// budget and grows no backoff, and the event is done (the order is parked,
// pending). When the circuit closes again (a probe succeeded) the
// reconciler drains every pending order at once, whatever its age or retry
// time; while it is open the reconciler looks every ProbeEvery, so a
// parked backlog is also what probes the provider after the cooldown.
type Payer struct {
	svc      *Service
	store    *store.Store
	provider payments.Provider
	log      *slog.Logger
	outcomes *prometheus.CounterVec
	timing   PaymentTiming
	wake     chan struct{} // the circuit closed: drain now
	drain    atomic.Bool   // a drain is owed
	wg       sync.WaitGroup
}

func NewPayer(svc *Service, st *store.Store, p payments.Provider, t PaymentTiming, log *slog.Logger, outcomes *prometheus.CounterVec) *Payer {
	py := &Payer{svc: svc, store: st, provider: p, log: log, outcomes: outcomes, timing: t.withDefaults(), wake: make(chan struct{}, 1)}
	return py
}

func (p *Payer) count(outcome string) {
	if p.outcomes != nil {
		p.outcomes.WithLabelValues(outcome).Inc()
	}
}

// CircuitClosed tells the payer that the provider's circuit closed again
// after a successful probe: the reconciler drains the backlog now. It only
// signals (it runs under the breaker's lock).
func (p *Payer) CircuitClosed() {
	p.drain.Store(true)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// HandlePlaced is the (non-transactional) handler of orders.order_placed.v1.
// A transient provider failure is returned so the bus retries with backoff
// (and dead-letters genuinely failing work); the reconciler is the safety
// net after the bus gives up. A refusal by the open circuit is not
// returned: it is no attempt, and retrying it against the circuit would
// only walk the event into the dead-letter store (in-process and on
// JetStream alike). The order stays pending and is paid by the drain when
// the circuit closes.
func (p *Payer) HandlePlaced(ctx context.Context, e events.Event) error {
	var pl orders.OrderPlacedV1
	if err := json.Unmarshal(e.Payload, &pl); err != nil || pl.OrderID == "" {
		return events.Permanent(errors.New("orders: undecodable order_placed payload"))
	}
	if err := p.Pay(ctx, pl.OrderID); err != nil && !errors.Is(err, payments.ErrOpen) {
		return err
	}
	return nil
}

// Pay attempts the payment of one order. It is a no-op (nil) when the order
// is no longer pending or another attempt is in flight. With the circuit
// open it returns payments.ErrOpen and changes nothing: no attempt counted,
// no retry time moved.
func (p *Payer) Pay(ctx context.Context, orderID string) error {
	if p.provider.State() == "open" {
		p.count("breaker_open")
		return payments.ErrOpen
	}
	t := p.timing
	now := store.Now()
	row, ok, err := p.store.ClaimPayment(ctx, orderID, now, now.Add(t.Lease))
	if err != nil || !ok {
		return err
	}
	res, err := p.provider.Charge(ctx, payments.Charge{OrderID: row.ID, AmountCents: row.TotalCents, Currency: row.ToOrder().Currency})
	if err != nil {
		// Detached: the lease must go even if ctx is being cancelled.
		bctx := context.WithoutCancel(ctx)
		if errors.Is(err, payments.ErrOpen) { // opened (or half-open and busy) since the look above
			p.count("breaker_open")
			if derr := p.store.ReleasePayment(bctx, row.ID); derr != nil {
				p.log.WarnContext(ctx, "release payment", "order_id", row.ID, "err", derr)
			}
			return err
		}
		p.count("transient")
		next := store.Now().Add(backoff(t.RetryBase, t.RetryMax, row.PaymentAttempts+1))
		if derr := p.store.DeferPayment(bctx, row.ID, next); derr != nil {
			p.log.WarnContext(ctx, "defer payment", "order_id", row.ID, "err", derr)
		}
		return err
	}
	action, detail := domain.ActionPay, transitionDetail{ChargeID: res.ChargeID}
	if res.Approved {
		p.count("succeeded")
	} else {
		p.count("declined")
		action, detail.Reason = domain.ActionFailPayment, res.Reason
	}
	_, err = p.svc.Transition(context.WithoutCancel(ctx), Caller{Admin: true}, row.ID, action, 0, detail)
	if errors.Is(err, orders.ErrInvalidTransition) {
		// Cancelled while the charge was in flight. The provider has no
		// refund call in our contract: make it loud for an operator.
		if res.Approved {
			p.count("charged_after_cancel")
			p.log.ErrorContext(ctx, "order was cancelled while its charge succeeded; refund needed",
				"order_id", row.ID, "charge_id", res.ChargeID)
		}
		return nil
	}
	return err
}

// backoff is base*2^(attempts-1), capped, with +-20% jitter.
func backoff(base, maxDelay time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + jitter
}

// Start runs the reconciler until ctx ends or Stop.
func (p *Payer) Start(ctx context.Context) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			t := p.timing
			every := t.ReconcileEvery
			if p.provider.State() == "open" {
				every = min(every, t.ProbeEvery) // catch the end of the cooldown
			}
			timer := time.NewTimer(every)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-p.wake:
				timer.Stop()
			case <-timer.C:
			}
			p.Reconcile(ctx)
		}
	}()
}

// Wait blocks until the reconciler has stopped (after its ctx ended).
func (p *Payer) Wait() { p.wg.Wait() }

// Reconcile sweeps pending orders once. It is breaker-aware: with the
// circuit open it does nothing; half-open, or just closed after a probe,
// it drains the whole backlog (the first charge of a half-open drain is
// the probe); closed, it sweeps orders older than ReconcileAfter whose
// retry time has come and stops at the first transient failure (the
// provider is not answering; the breaker decides when to probe again).
func (p *Payer) Reconcile(ctx context.Context) {
	switch p.provider.State() {
	case "open":
		return
	case "half-open":
		p.drainBacklog(ctx)
		return
	}
	if p.drain.Swap(false) {
		p.drainBacklog(ctx)
		return
	}
	t := p.timing
	now := store.Now()
	due, err := p.store.DuePayments(ctx, now, now.Add(-t.ReconcileAfter), 100)
	if err != nil {
		if ctx.Err() == nil {
			p.log.WarnContext(ctx, "payment reconciler", "err", err)
		}
		return
	}
	for _, r := range due {
		if ctx.Err() != nil {
			return
		}
		if err := p.Pay(ctx, r.ID); err != nil {
			if !errors.Is(err, payments.ErrTransient) {
				p.log.WarnContext(ctx, "payment reconciler", "order_id", r.ID, "err", err)
			}
			return
		}
	}
}

// drainBacklog tries every pending order not in flight once, oldest first,
// whatever its age or retry time: the provider has just answered a probe,
// so waiting out backoffs grown during the outage would only delay paying.
// An order that fails for real gets its backoff as usual and the drain goes
// on; it stops when the circuit opens (again).
func (p *Payer) drainBacklog(ctx context.Context) {
	var afterCreated time.Time
	var afterID string
	tried := 0
	for ctx.Err() == nil {
		rows, err := p.store.PendingPayments(ctx, store.Now(), afterCreated, afterID, 100)
		if err != nil {
			if ctx.Err() == nil {
				p.log.WarnContext(ctx, "payment backlog", "err", err)
			}
			return
		}
		for _, r := range rows {
			if ctx.Err() != nil {
				return
			}
			afterCreated, afterID = r.CreatedAt, r.ID
			tried++
			err := p.Pay(ctx, r.ID)
			switch {
			case errors.Is(err, payments.ErrOpen):
				return // the next close drains what is left
			case err != nil && !errors.Is(err, payments.ErrTransient):
				p.log.WarnContext(ctx, "payment backlog", "order_id", r.ID, "err", err)
			}
		}
		if len(rows) < 100 {
			break
		}
	}
	if tried > 0 {
		p.log.InfoContext(ctx, "payment backlog drained", "orders_tried", tried)
	}
}
