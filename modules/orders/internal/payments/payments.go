// Package payments talks to the external payment provider of the contract:
// POST {base}/v1/charges with {"order_id","amount_cents","currency"} and
// Idempotency-Key: <order id>, behind a per-call timeout and a circuit
// breaker. Without a base URL a built-in simulated provider approves every
// charge in-process.
package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Charge asks for money for an order. The order ID is the idempotency key:
// the provider answers a repeated charge with the first result, so an
// order is never charged twice however often it is retried.
type Charge struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

// Result is a definite answer of the provider.
type Result struct {
	Approved bool
	ChargeID string
	Reason   string // for a decline
}

// ErrTransient marks failures worth retrying later: 5xx, 429, timeouts,
// refused connections, an open circuit. Every error Charge returns wraps it.
var ErrTransient = errors.New("payment provider unavailable")

// ErrOpen is the circuit breaker refusing to call (wraps ErrTransient):
// the provider was not asked, so it is no attempt at the charge.
var ErrOpen = fmt.Errorf("%w: circuit open", ErrTransient)

// Provider charges orders.
type Provider interface {
	Charge(ctx context.Context, c Charge) (Result, error)
	// State is the circuit breaker's state: "closed", "half-open", "open"
	// ("closed" for the simulated provider).
	State() string
}

// Simulated approves every charge, in-process.
type Simulated struct{}

func (Simulated) Charge(_ context.Context, c Charge) (Result, error) {
	return Result{Approved: true, ChargeID: "sim_" + c.OrderID}, nil
}
func (Simulated) State() string { return "closed" }

// Options tune the HTTP client.
type Options struct {
	// Timeout bounds one call (default 5s).
	Timeout time.Duration
	// BreakerFailures consecutive transient failures open the circuit (default 5).
	BreakerFailures uint32
	// BreakerCooldown is how long the circuit stays open before one probe
	// is let through (default 5s: a probe is one charge, cheap to the
	// provider, and the cooldown bounds how long after the provider's
	// return the backlog waits).
	BreakerCooldown time.Duration
	// OnStateChange observes breaker transitions (metrics).
	OnStateChange func(to gobreaker.State)
	// OnClose is called when a half-open probe succeeded and the circuit
	// closed again: the provider is back (the payer drains its backlog).
	// It runs under the breaker's lock: it must not call the provider.
	OnClose func()
	// Client is the HTTP client (default: a dedicated one).
	Client *http.Client
	// WrapTransport decorates the default client's transport (tracing:
	// the charge request carries the caller's traceparent).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// HTTP is the provider client.
type HTTP struct {
	base    string
	opts    Options
	timeout atomic.Int64 // time.Duration of one call
	breaker atomic.Pointer[gobreaker.CircuitBreaker[Result]]
}

// NewHTTP returns a client of the provider at base (no trailing slash needed).
func NewHTTP(base string, o Options) *HTTP {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = 5 * time.Second
	}
	if o.Client == nil {
		var rt http.RoundTripper = &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second,
		}
		if o.WrapTransport != nil {
			rt = o.WrapTransport(rt)
		}
		o.Client = &http.Client{Transport: rt}
	}
	h := &HTTP{base: strings.TrimRight(base, "/"), opts: o}
	h.timeout.Store(int64(o.Timeout))
	h.breaker.Store(h.newBreaker(o.BreakerCooldown))
	return h
}

func (h *HTTP) newBreaker(cooldown time.Duration) *gobreaker.CircuitBreaker[Result] {
	o := h.opts
	return gobreaker.NewCircuitBreaker[Result](gobreaker.Settings{
		Name:        "payment-provider",
		MaxRequests: 1,
		Timeout:     cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= o.BreakerFailures },
		// A decline is the provider working; only transient failures count.
		IsSuccessful: func(err error) bool { return err == nil || !errors.Is(err, ErrTransient) },
		// Our own cancellation (shutdown) says nothing about the provider.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if o.OnStateChange != nil {
				o.OnStateChange(to)
			}
			if from == gobreaker.StateHalfOpen && to == gobreaker.StateClosed && o.OnClose != nil {
				o.OnClose()
			}
		},
	})
}

// State reports the breaker state.
func (h *HTTP) State() string { return h.breaker.Load().State().String() }

// Charge calls the provider through the breaker. A definite answer
// (approved or declined) is a nil error; anything else wraps ErrTransient.
func (h *HTTP) Charge(ctx context.Context, c Charge) (Result, error) {
	res, err := h.breaker.Load().Execute(func() (Result, error) { return h.call(ctx, c) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return Result{}, ErrOpen
	}
	return res, err
}

type chargeResponse struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func (h *HTTP) call(ctx context.Context, c Charge) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(h.timeout.Load()))
	defer cancel()
	body, _ := json.Marshal(c)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/v1/charges", bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrTransient, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", c.OrderID)
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		// Refused, reset, timed out; %w keeps context.Canceled visible so
		// our own shutdown does not count against the provider.
		return Result{}, fmt.Errorf("%w: %w", ErrTransient, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Result{}, fmt.Errorf("%w: reading response: %v", ErrTransient, err)
	}
	var cr chargeResponse
	_ = json.Unmarshal(raw, &cr)
	switch {
	case resp.StatusCode == http.StatusPaymentRequired:
		return Result{Reason: reason(cr, "declined by the payment provider")}, nil
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		switch cr.Status {
		case "succeeded":
			return Result{Approved: true, ChargeID: cr.ID}, nil
		case "failed":
			return Result{ChargeID: cr.ID, Reason: reason(cr, "declined by the payment provider")}, nil
		}
		// A 2xx we cannot read is no answer: retrying with the same
		// idempotency key is safe and will get the stored result.
		return Result{}, fmt.Errorf("%w: unexpected charge status %q", ErrTransient, cr.Status)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Result{}, fmt.Errorf("%w: status %d", ErrTransient, resp.StatusCode)
	default:
		// Other 4xx: our request is wrong (a bug or a config mismatch);
		// retrying cannot help but neither may we fail the customer's
		// order for it: keep it pending and retry with backoff, loudly.
		return Result{}, fmt.Errorf("%w: provider rejected the request with status %d", ErrTransient, resp.StatusCode)
	}
}

func reason(cr chargeResponse, def string) string {
	if cr.Message != "" && len(cr.Message) <= 200 {
		return cr.Message
	}
	return def
}
