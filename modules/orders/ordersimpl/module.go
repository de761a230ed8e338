// Package ordersimpl wires the orders module. Only the composition root
// imports it; other modules depend on the orders contract package instead.
package ordersimpl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"gorm.io/gorm"

	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/internal/app"
	"example.com/productapi/modules/orders/internal/httpapi"
	"example.com/productapi/modules/orders/internal/payments"
	"example.com/productapi/modules/orders/internal/salesview"
	"example.com/productapi/modules/orders/internal/store"
	"example.com/productapi/modules/products"
	"example.com/productapi/modules/users"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/routemeta"
)

// Deps are what the module needs from the platform and its peers. DB,
// Products, Events and Cursors are required.
type Deps struct {
	DB       *gorm.DB
	Postgres bool
	Products products.Service
	Events   *events.Bus
	Cursors  *query.Codec
	Log      *slog.Logger // nil: slog.Default()
	// Registry receives the module's metrics (nil: not exported).
	Registry prometheus.Registerer
	// PaymentProviderURL is the provider's base URL; empty selects the
	// built-in simulated provider that approves every charge.
	PaymentProviderURL string
	// Timing fine-tunes payments and the key janitor; zero fields take
	// defaults. Fixed at construction (tests pass test-sized values here).
	Timing  Timing
	BaseURL string
	// CheckoutEnabled is the orders.checkout_enabled switch (nil: always on).
	CheckoutEnabled func(ctx context.Context) bool
	// PaymentTransport decorates the payment provider client's transport
	// (nil: none); the composition root (modules/app) passes the tracing transport.
	PaymentTransport func(http.RoundTripper) http.RoundTripper
	// Audit records admins' order transitions (nil: not recorded).
	Audit *audit.Log
	// MFA says whether admins' order actions need a TOTP login
	// (auth.require_mfa_for "admin.orders"); nil: they do not.
	MFA *auth.MFAPolicy
}

// Timing tunes the payment driver, the provider client and the janitor.
type Timing struct {
	// ReconcileEvery is how often pending orders are swept (default 10s).
	ReconcileEvery time.Duration
	// ReconcileAfter: only orders older than this are swept, so the event
	// path has its chance first (default 1m).
	ReconcileAfter time.Duration
	// RetryBase and RetryMax bound the reconciler's per-order exponential
	// backoff (defaults 5s and 5m, +-20% jitter).
	RetryBase, RetryMax time.Duration
	// PaymentLease marks a charge as in flight (default 1m; must exceed
	// CallTimeout).
	PaymentLease time.Duration
	// ProbeEvery is how often the reconciler looks at an open circuit to
	// probe right after the cooldown (default 500ms).
	ProbeEvery time.Duration
	// CallTimeout bounds one provider call (default 5s).
	CallTimeout time.Duration
	// BreakerCooldown is how long the provider's circuit stays open before
	// a probe (default 5s).
	BreakerCooldown time.Duration
	// JanitorEvery is how often expired Idempotency-Keys are purged
	// (default 10m).
	JanitorEvery time.Duration
	// IdempotencyTTL is how long Idempotency-Keys are kept (default 24h).
	IdempotencyTTL time.Duration
}

func (t Timing) payment() app.PaymentTiming {
	return app.PaymentTiming{ReconcileEvery: t.ReconcileEvery, ReconcileAfter: t.ReconcileAfter,
		RetryBase: t.RetryBase, RetryMax: t.RetryMax, Lease: t.PaymentLease, ProbeEvery: t.ProbeEvery}
}

// Module is the wired orders module. It hands out its contract, never the
// use cases behind it.
type Module struct {
	svc      *app.Service
	store    *store.Store
	payer    *app.Payer
	provider payments.Provider
	sales    *salesview.View
	handlers *httpapi.Handlers
	log      *slog.Logger
	ttl      time.Duration // Idempotency-Keys older than this are purged
	janitor  time.Duration // how often

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Consumer names on the bus.
const (
	ConsumerPayments = "orders-payments"
	// ConsumerPrivacy detaches an erased user's orders (users.user_erased.v1).
	ConsumerPrivacy = "orders-privacy"
)

// New checks d, builds the module and subscribes its event consumers (call
// it before the bus starts).
func New(d Deps) (*Module, error) {
	var missing []error
	for _, dep := range []struct {
		name   string
		absent bool
	}{{"DB", d.DB == nil}, {"Products", d.Products == nil}, {"Events", d.Events == nil}, {"Cursors", d.Cursors == nil}} {
		if dep.absent {
			missing = append(missing, fmt.Errorf("ordersimpl: Deps.%s is required", dep.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("module", "orders")
	m := &Module{log: log}
	mx, err := newMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	if d.PaymentProviderURL == "" {
		m.provider = payments.Simulated{}
	} else {
		m.provider = payments.NewHTTP(d.PaymentProviderURL, payments.Options{
			Timeout: d.Timing.CallTimeout, BreakerCooldown: d.Timing.BreakerCooldown,
			OnStateChange: func(to gobreaker.State) { mx.breaker.Set(float64(to)) },
			// The provider is back: pay the backlog now (m.payer is set
			// below, before anything can call the provider).
			OnClose:       func() { m.payer.CircuitClosed() },
			WrapTransport: d.PaymentTransport,
		})
	}
	m.store = store.New(d.DB, d.Postgres)
	m.svc = app.New(m.store, d.Products, d.Events, log, mx.placed, d.Audit)
	m.payer = app.NewPayer(m.svc, m.store, m.provider, d.Timing.payment(), log, mx.payments)
	m.sales = salesview.New(d.DB, d.Postgres, d.Events)
	m.handlers = httpapi.NewHandlers(m.svc, m.sales, d.Cursors, d.BaseURL, d.CheckoutEnabled)
	m.handlers.AdminMFA, m.handlers.AdminActingMFA = d.MFA.For("admin.orders"), d.MFA.ForAdmins("admin.orders")
	m.ttl = cmp.Or(d.Timing.IdempotencyTTL, 24*time.Hour)
	m.janitor = cmp.Or(d.Timing.JanitorEvery, 10*time.Minute)

	// Payments call a remote system: not transactional, the handler is
	// idempotent itself (pending-only, leased, provider idempotency key).
	d.Events.SubscribeWith(ConsumerPayments, []string{orders.EventOrderPlaced}, events.SubscribeOptions{}, m.payer.HandlePlaced)
	// The read model only writes its own table: transactional, so each
	// event counts exactly once.
	d.Events.SubscribeWith(salesview.Consumer, salesview.Types, events.SubscribeOptions{Transactional: true}, m.sales.Handle)
	// The right to erasure: local writes only, so transactional.
	d.Events.SubscribeWith(ConsumerPrivacy, []string{users.EventUserErased}, events.SubscribeOptions{Transactional: true}, m.svc.HandleUserErased)
	return m, nil
}

// Service is the module's contract, for peers (users' privacy export).
func (m *Module) Service() orders.Service { return m.svc }

// Payments reports the payment provider's circuit for /readyz and the
// console; see orders.Payments.
func (m *Module) Payments() orders.Payments { return m.provider }

// Routes mounts the module under /v1.
func (m *Module) Routes(v1 *routemeta.Group) { m.handlers.Routes(v1) }

// Start runs the background work: the payment reconciler and the
// Idempotency-Key janitor. They stop when ctx ends or on Close.
func (m *Module) Start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		return
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.payer.Start(ctx)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			m.purge(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(m.janitor):
			}
		}
	}()
}

func (m *Module) purge(ctx context.Context) {
	n, err := m.svc.PurgeKeys(ctx, m.ttl)
	if err != nil && ctx.Err() == nil {
		m.log.WarnContext(ctx, "idempotency key janitor", "err", err)
	} else if n > 0 {
		m.log.DebugContext(ctx, "idempotency keys purged", "count", n)
	}
}

// Close stops the background work and waits for it.
func (m *Module) Close() {
	m.mu.Lock()
	cancel := m.cancel
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	m.payer.Wait()
	m.wg.Wait()
}

type metrics struct {
	placed   prometheus.Counter
	payments *prometheus.CounterVec
	breaker  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		placed: prometheus.NewCounter(prometheus.CounterOpts{Name: "orders_placed_total", Help: "Orders placed (idempotent replays not counted)."}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "payments_total",
			Help: "Payment attempts by outcome: succeeded, declined, transient, breaker_open, charged_after_cancel."}, []string{"outcome"}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{Name: "payment_breaker_state",
			Help: "Payment provider circuit breaker: 0 closed, 1 half-open, 2 open."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.placed, m.payments, m.breaker} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, o := range []string{"succeeded", "declined", "transient", "breaker_open"} {
		m.payments.WithLabelValues(o)
	}
	return m, nil
}
