package events

import (
	"context"
	"encoding/json"
	"errors"
	"example.com/productapi/platform/audit"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"gorm.io/gorm"

	"example.com/productapi/platform/db"
	"example.com/productapi/platform/ids"
)

// Config configures a Bus. Zero values take the documented defaults.
type Config struct {
	DB          *gorm.DB              // the service's pool
	Postgres    bool                  // dialect
	NATSURL     string                // empty: in-process delivery
	Log         *slog.Logger          // nil: slog.Default()
	Registry    prometheus.Registerer // may be nil
	Audit       *audit.Log            // dead-letter replays are recorded here (nil: not recorded)
	MaxAttempts int                   // default 8: after this many failed deliveries an event is dead-lettered for that consumer
	// BaseBackoff, MaxBackoff bound the retry delay: exponential with full
	// jitter (defaults 200ms, 30s).
	BaseBackoff, MaxBackoff time.Duration
	// PollInterval is how often the relay and dispatcher look for work when
	// nothing woke them (default 100ms); a local Append wakes them at once.
	PollInterval time.Duration
	// Stream is the JetStream stream (default "PRODUCTAPI_EVENTS"); subjects
	// are "<stream lower>.<event type>".
	Stream string
	// HandlerTimeout bounds one handler call (default 30s). A delivery's
	// lease and JetStream's AckWait are this plus a margin.
	HandlerTimeout time.Duration
	// Workers is how many in-process deliveries run at once (default 4).
	Workers int
	// TracerProvider makes the consumer spans (nil: none recorded; the
	// trace context still flows from Append to the handler).
	TracerProvider trace.TracerProvider
	// Propagator writes and reads Event.Headers (nil: W3C TraceContext +
	// Baggage).
	Propagator propagation.TextMapPropagator
}

func (c *Config) defaults() {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 200 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxBackoff < c.BaseBackoff {
		c.MaxBackoff = c.BaseBackoff
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.Stream == "" {
		c.Stream = "PRODUCTAPI_EVENTS"
	}
	if c.HandlerTimeout <= 0 {
		c.HandlerTimeout = 30 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.TracerProvider == nil {
		c.TracerProvider = noop.NewTracerProvider()
	}
	if c.Propagator == nil {
		c.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
}

// leaseFor is how long a claimed delivery stays ours: long enough for the
// handler's own timeout plus the bookkeeping after it.
func (c *Config) leaseFor() time.Duration { return c.HandlerTimeout + 30*time.Second }

type subscription struct {
	consumer string
	types    []string
	typeSet  map[string]bool
	opts     SubscribeOptions
	h        Handler
}

// Bus is the outbox, relay and consumer runtime of one service instance.
type Bus struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	limit  *logLimiter
	prefix string // subject prefix, lower-case stream name

	mu      sync.Mutex
	subs    map[string]*subscription
	order   []string // consumers in subscription order
	started bool
	closed  bool

	relayWake    chan struct{}
	dispatchWake chan struct{}
	stop         context.CancelFunc
	stopped      chan struct{} // closed when Close begins
	wg           sync.WaitGroup
	nats         *natsTransport // nil: in-process
	tracer       trace.Tracer
}

// New validates cfg and prepares a Bus; nothing runs until Start.
func New(cfg Config) (*Bus, error) {
	if cfg.DB == nil {
		return nil, errors.New("events: Config.DB is required")
	}
	cfg.defaults()
	if cfg.NATSURL != "" {
		for _, u := range strings.Split(cfg.NATSURL, ",") {
			if _, err := url.Parse(strings.TrimSpace(u)); err != nil {
				return nil, fmt.Errorf("events: NATS_URL is not a URL list: %w", err)
			}
		}
	}
	if strings.ContainsAny(cfg.Stream, ".*> \t") {
		return nil, fmt.Errorf("events: stream name %q may not contain '.', '*', '>' or spaces", cfg.Stream)
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	b := &Bus{
		cfg:          cfg,
		log:          cfg.Log.With("component", "events"),
		m:            m,
		limit:        newLogLimiter(30 * time.Second),
		prefix:       strings.ToLower(cfg.Stream),
		subs:         map[string]*subscription{},
		relayWake:    make(chan struct{}, 1),
		dispatchWake: make(chan struct{}, 1),
		stopped:      make(chan struct{}),
		tracer:       cfg.TracerProvider.Tracer("example.com/productapi/platform/events"),
	}
	if cfg.NATSURL == "" {
		b.m.up.WithLabelValues("inprocess").Set(1)
	}
	return b, nil
}

// Append writes an event to the outbox. It joins the unit of work carried
// by ctx (db.Transact), so the event exists exactly when the change that
// caused it commits; the relay is woken after that commit.
func (b *Bus) Append(ctx context.Context, typ, key string, payload any) (Event, error) {
	if !ValidType(typ) {
		return Event{}, fmt.Errorf("events: type %q does not match <module>.<event>.v<N>", typ)
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return Event{}, fmt.Errorf("events: encode %s payload: %w", typ, err)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return Event{}, fmt.Errorf("events: %s payload must encode to a JSON object", typ)
	}
	ev := Event{ID: ids.New(), Type: typ, Key: key, OccurredAt: now(), Payload: raw}
	row := outboxRow{ID: ev.ID, Type: typ, Key: key, OccurredAt: ev.OccurredAt, Payload: string(raw)}
	ev.Headers, row.Headers = b.traceHeaders(ctx)
	if err := db.Conn(ctx, b.cfg.DB).Create(&row).Error; err != nil {
		return Event{}, fmt.Errorf("events: append %s: %w", typ, err)
	}
	db.AfterCommit(ctx, func(context.Context) {
		b.m.appended.WithLabelValues(typ).Inc()
		wake(b.relayWake)
	})
	return ev, nil
}

// Subscribe registers a transactional handler for consumer. Call it before
// Start; a consumer name is a durable identity (inbox rows, JetStream
// durable consumers, dead letters), so never rename one casually.
func (b *Bus) Subscribe(consumer string, types []string, h Handler) {
	b.SubscribeWith(consumer, types, SubscribeOptions{Transactional: true}, h)
}

// consumerPattern keeps consumer names usable as JetStream durable names.
var consumerPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// SubscribeWith registers a handler with explicit options. Mistakes here
// (bad names, duplicate consumer, subscribing after Start) are programming
// errors and panic at wiring time.
func (b *Bus) SubscribeWith(consumer string, types []string, opts SubscribeOptions, h Handler) {
	if !consumerPattern.MatchString(consumer) {
		panic(fmt.Sprintf("events: consumer name %q must match %s", consumer, consumerPattern))
	}
	if len(types) == 0 || h == nil {
		panic("events: Subscribe needs at least one type and a handler")
	}
	set := map[string]bool{}
	for _, t := range types {
		if !ValidType(t) {
			panic(fmt.Sprintf("events: type %q does not match <module>.<event>.v<N>", t))
		}
		set[t] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		panic("events: Subscribe after Start")
	}
	if _, dup := b.subs[consumer]; dup {
		panic(fmt.Sprintf("events: consumer %q subscribed twice", consumer))
	}
	b.subs[consumer] = &subscription{consumer: consumer, types: append([]string(nil), types...), typeSet: set, opts: opts, h: h}
	b.order = append(b.order, consumer)
}

// Start runs the relay, the delivery workers and, with NATS, the JetStream
// consumers. An unreachable NATS does not fail Start: the connection is
// retried forever while the outbox keeps the events.
func (b *Bus) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return errors.New("events: Start called twice")
	}
	b.started = true
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.stop = cancel
	b.refreshGauges(runCtx)
	if b.cfg.NATSURL != "" {
		t, err := newNATSTransport(b)
		if err != nil {
			cancel()
			return err
		}
		b.nats = t
		for _, c := range b.order {
			for _, typ := range b.subs[c].types {
				b.goLoop(func() { t.consumeLoop(runCtx, b.subs[c], typ) })
			}
		}
	}
	b.goLoop(func() { b.relayLoop(runCtx) })
	b.goLoop(func() { b.dispatchLoop(runCtx) })
	return nil
}

func (b *Bus) goLoop(f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
}

// Close stops claiming work, lets in-flight handlers finish (each bounded
// by HandlerTimeout), then closes the NATS connection after flushing acks.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	stop := b.stop
	b.mu.Unlock()
	close(b.stopped)
	if stop != nil {
		stop()
	}
	b.wg.Wait()
	if b.nats != nil {
		b.nats.close()
	}
	return nil
}

// Health is nil in-process; with NATS it reports a lost connection or a
// stream that could not be set up yet. It is a non-critical readiness
// check: events wait in the outbox meanwhile.
func (b *Bus) Health(context.Context) error {
	if b.nats == nil {
		if b.cfg.NATSURL != "" {
			return errors.New("events: not started")
		}
		return nil
	}
	return b.nats.health()
}

func (b *Bus) subscription(consumer string) *subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[consumer]
}

func (b *Bus) consumers() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.order...)
}

// wake nudges a loop without blocking; one pending nudge is enough.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// now is the stored time: UTC, microseconds (what Postgres keeps), so a
// value read back compares equal to the one written.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// subject is where an event type is published on JetStream.
func (b *Bus) subject(typ string) string { return b.prefix + "." + typ }
