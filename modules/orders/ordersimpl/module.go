// Package ordersimpl wires the orders module. Only main.go imports it;
// other modules depend on the orders contract package instead.
package ordersimpl

import (
	"context"
	"errors"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/auth"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
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
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/query"
)

// Deps are what the module needs from the platform and its peers.
type Deps struct {
	DB       *gorm.DB
	Postgres bool
	Products products.Service
	Events   *events.Bus
	Cursors  *query.Codec
	Log      *slog.Logger
	// Registry receives the module's metrics (nil: not exported).
	Registry prometheus.Registerer
	// PaymentProviderURL is the provider's base URL; empty selects the
	// built-in simulated provider that approves every charge.
	PaymentProviderURL string
	// Timing fine-tunes payments and the key janitor; zero fields take
	// defaults.
	Timing  Timing
	BaseURL string
	// CheckoutEnabled is the orders.checkout_enabled switch (nil: always on).
	CheckoutEnabled func(ctx context.Context) bool
	// PaymentTransport decorates the payment provider client's transport
	// (nil: none); main wires the tracing transport here.
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

// Module is the wired orders module.
type Module struct {
	*app.Service
	store    *store.Store
	payer    *app.Payer
	provider payments.Provider
	sales    *salesview.View
	handlers *httpapi.Handlers
	log      *slog.Logger

	mu      sync.Mutex
	ttl     time.Duration
	janitor time.Duration
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var _ orders.Service = (*Module)(nil)

// Consumer names on the bus.
const (
	ConsumerPayments = "orders-payments"
	// ConsumerPrivacy detaches an erased user's orders (users.user_erased.v1).
	ConsumerPrivacy = "orders-privacy"
)

// New builds the module and subscribes its event consumers (call it before
// the bus starts).
func New(d Deps) (*Module, error) {
	if d.DB == nil || d.Products == nil || d.Events == nil || d.Cursors == nil {
		return nil, errors.New("ordersimpl: DB, Products, Events and Cursors are required")
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
	m.Service = app.New(m.store, d.Products, d.Events, log, mx.placed, d.Audit)
	m.payer = app.NewPayer(m.Service, m.store, m.provider, d.Timing.payment(), log, mx.payments)
	m.sales = salesview.New(d.DB, d.Postgres, d.Events)
	m.handlers = httpapi.NewHandlers(m.Service, m.sales, d.Cursors, d.BaseURL, d.CheckoutEnabled)
	m.handlers.AdminMFA, m.handlers.AdminActingMFA = d.MFA.For("admin.orders"), d.MFA.ForAdmins("admin.orders")
	m.ttl = firstPositive(d.Timing.IdempotencyTTL, 24*time.Hour)
	m.janitor = firstPositive(d.Timing.JanitorEvery, 10*time.Minute)

	// Payments call a remote system: not transactional, the handler is
	// idempotent itself (pending-only, leased, provider idempotency key).
	d.Events.SubscribeWith(ConsumerPayments, []string{orders.EventOrderPlaced}, events.SubscribeOptions{}, m.payer.HandlePlaced)
	// The read model only writes its own table: transactional, so each
	// event counts exactly once.
	d.Events.SubscribeWith(salesview.Consumer, salesview.Types, events.SubscribeOptions{Transactional: true}, m.sales.Handle)
	// The right to erasure: local writes only, so transactional.
	d.Events.SubscribeWith(ConsumerPrivacy, []string{users.EventUserErased}, events.SubscribeOptions{Transactional: true}, m.Service.HandleUserErased)
	return m, nil
}

func firstPositive(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// Routes mounts the module under /v1.
func (m *Module) Routes(v1 *gin.RouterGroup) { m.handlers.Routes(v1) }

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
			m.mu.Lock()
			every, ttl := m.janitor, m.ttl
			m.mu.Unlock()
			m.purge(ctx, ttl)
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
}

func (m *Module) purge(ctx context.Context, ttl time.Duration) {
	n, err := m.Service.PurgeKeys(ctx, ttl)
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

// BreakerState is the payment provider circuit's state ("closed",
// "half-open", "open"), for /readyz.
func (m *Module) BreakerState() string { return m.provider.State() }

// SetTiming changes the timing at run time (zero fields keep defaults).
// Tests use it to make retries and sweeps fast; the provider's breaker is
// replaced by a fresh closed one when BreakerCooldown is set.
func (m *Module) SetTiming(t Timing) {
	m.payer.SetTiming(t.payment())
	if h, ok := m.provider.(*payments.HTTP); ok {
		h.SetTiming(t.CallTimeout, t.BreakerCooldown)
	}
	m.mu.Lock()
	if t.IdempotencyTTL > 0 {
		m.ttl = t.IdempotencyTTL
	}
	if t.JanitorEvery > 0 {
		m.janitor = t.JanitorEvery
	}
	m.mu.Unlock()
}

// PayNow attempts the payment of one pending order now, as the reconciler
// would (no-op when it is not pending or a charge is in flight).
func (m *Module) PayNow(ctx context.Context, orderID string) error { return m.payer.Pay(ctx, orderID) }

// ReconcilePayments runs one reconciler sweep now (operators, tests).
func (m *Module) ReconcilePayments(ctx context.Context) { m.payer.Reconcile(ctx) }

// PurgeIdempotencyKeys runs the janitor once now.
func (m *Module) PurgeIdempotencyKeys(ctx context.Context) {
	m.mu.Lock()
	ttl := m.ttl
	m.mu.Unlock()
	m.purge(ctx, ttl)
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
