package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"example.com/productapi/migrations"
	"example.com/productapi/modules/orders"
	"example.com/productapi/modules/orders/ordersimpl"
	"example.com/productapi/modules/products/productsimpl"
	"example.com/productapi/modules/users/usersimpl"
	"example.com/productapi/platform/audit"
	"example.com/productapi/platform/auth"
	"example.com/productapi/platform/cache"
	"example.com/productapi/platform/config"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/events"
	"example.com/productapi/platform/flags"
	"example.com/productapi/platform/flags/flagstore"
	"example.com/productapi/platform/health"
	"example.com/productapi/platform/migrate"
	"example.com/productapi/platform/observability"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/ratelimit"
	"example.com/productapi/platform/resilience"
	"example.com/productapi/platform/routemeta"
)

// App is one wired instance: config -> platform -> modules -> routes.
type App struct {
	cfg       config.Config
	log       *slog.Logger
	db        *db.DB
	redis     *redis.Client
	cache     *cache.Cache
	metrics   *observability.Metrics
	tokens    *auth.Tokens
	mfa       *auth.MFAPolicy // auth.require_mfa_for: admin groups that need a TOTP login
	migrator  *migrate.Migrator
	health    *health.Checker
	ready     atomic.Bool
	users     *usersimpl.Module
	products  *productsimpl.Module
	orders    *ordersimpl.Module
	events    *events.Bus
	audit     *audit.Log
	flags     *flags.Flags
	cursors   *query.Codec // signs the list cursors of the admin APIs too
	router    *gin.Engine
	routeMeta *routemeta.Table // every route's limits, declared where it is registered (routes)
	limiter   *resilience.Limiter
	rate      *ratelimit.Limiter
	external  []auth.External // accepted external token issuers (OIDC), see oidc.go
	tracing   *observability.Tracing
	traceOpt  observability.TracingOptions // set by an Option (tests)
	// ordersTiming is the payment driver's and key janitor's timing (zero:
	// production defaults; tests set test-sized values by an Option).
	ordersTiming ordersimpl.Timing
	stream       string // JetStream stream; "" = the default (tests set their own)
	// onOpen runs right after the database opens, before anything else
	// uses it (tests register GORM callbacks here: registering one while
	// background work runs queries is a data race in GORM).
	onOpen  func(*gorm.DB) error
	dbGuard *db.Guard
	stats   *observability.Sampler // the console's traffic figures
	// life bounds the background goroutines New starts; Close ends it.
	life context.Context
	stop context.CancelFunc
}

func newMigrator(d *db.DB, log *slog.Logger) *migrate.Migrator {
	return migrate.New(migrations.FS, migrations.Modules, string(d.Dialect), d.MigrateURL, log)
}

// New wires one instance in three phases: the platform (database, keys,
// Redis, audit, flags, cache, events), the modules on top of it, then the
// operations around them (readiness, overload and rate limits, the
// console's figures) and the routes. The caller owns Close.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, metrics: observability.NewMetrics()}
	for _, o := range opts {
		o(a)
	}
	a.life, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	cursors, rc, err := a.startPlatform(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.startModules(ctx, cursors); err != nil {
		return nil, err
	}
	if err := a.startOperations(rc); err != nil {
		return nil, err
	}
	a.router = a.routes()
	return a, nil
}

// startPlatform opens the shared mechanisms in dependency order. It returns
// what the later phases share: the cursor codec and Redis as the limiter's
// and the cache's client (nil without Redis).
func (a *App) startPlatform(ctx context.Context) (cursors *query.Codec, rc redis.UniversalClient, err error) {
	if a.tracing, err = observability.NewTracing(ctx, a.cfg.Tracing, a.traceOpt); err != nil {
		return nil, nil, err
	}
	if err := a.openDatabase(ctx); err != nil {
		return nil, nil, err
	}
	if cursors, err = a.loadKeys(); err != nil {
		return nil, nil, err
	}
	if err := a.connectRedis(); err != nil {
		return nil, nil, err
	}
	if a.redis != nil {
		rc = a.redis
	}
	if err := a.startShared(ctx, cursors, rc); err != nil {
		return nil, nil, err
	}
	return cursors, rc, nil
}

// openDatabase opens the pool, instruments it, starts its guard and applies
// the migrations when configured to.
func (a *App) openDatabase(ctx context.Context) (err error) {
	cfg, log := a.cfg, a.log
	if a.db, err = db.Open(ctx, cfg.Database, log); err != nil {
		return err
	}
	if a.onOpen != nil {
		if err := a.onOpen(a.db.Gorm); err != nil {
			return err
		}
	}
	a.metrics.WatchDB(a.db.SQL, string(a.db.Dialect))
	if err := a.metrics.CountQueries(a.db.Gorm); err != nil { // db_queries_total
		return err
	}
	if a.tracing.Enabled() {
		if err := a.db.Trace(a.tracing.ChildSpansOnly()); err != nil {
			return fmt.Errorf("database tracing: %w", err)
		}
	}
	if a.dbGuard, err = db.NewGuard(a.db, cfg.Database.ProbeInterval, cfg.Database.ProbeTimeout, log.With("component", "db")); err != nil {
		return err
	}
	go a.dbGuard.Run(a.life)
	a.metrics.DependencyUp("database", a.dbGuard.Up)
	a.migrator = newMigrator(a.db, log)
	if cfg.Database.AutoMigrate {
		if err := a.migrator.Up(); err != nil {
			return fmt.Errorf("database migrations: %w", err)
		}
	}
	return nil
}

// loadKeys makes the token issuer, the MFA policy and the cursor codec from
// the signing key (and the previous ones, still accepted).
func (a *App) loadKeys() (*query.Codec, error) {
	cfg := a.cfg
	key, err := auth.LoadOrCreateKey(cfg.Auth.SigningKey, cfg.DataDir)
	if err != nil {
		return nil, &config.Error{Setting: "AUTH_SIGNING_KEY", Problem: err.Error()}
	}
	previous := make([][]byte, 0, len(cfg.Auth.PreviousSigningKeys))
	previousCursorKeys := make([][]byte, 0, len(cfg.Auth.PreviousSigningKeys))
	for _, k := range cfg.Auth.PreviousSigningKeys {
		previous = append(previous, []byte(k))
		previousCursorKeys = append(previousCursorKeys, deriveKey([]byte(k), "cursor-v1"))
	}
	a.tokens = auth.NewTokens(key, cfg.Auth.Issuer, cfg.Auth.AccessTokenTTL,
		auth.WithAudience(cfg.Auth.Audience), auth.WithPreviousKeys(previous...))
	if a.mfa, err = auth.NewMFAPolicy(cfg.Auth.RequireMFAFor); err != nil {
		return nil, &config.Error{Setting: "AUTH_REQUIRE_MFA_FOR", Problem: err.Error()}
	}
	return query.NewCodec(deriveKey(key, "cursor-v1"), previousCursorKeys...), nil
}

// connectRedis opens the Redis client when one is configured.
func (a *App) connectRedis() (err error) {
	cfg := a.cfg
	if cfg.Redis.URL != "" {
		if a.redis, err = cache.NewRedisClient(cfg.Redis.URL); err != nil {
			return &config.Error{Setting: "REDIS_URL", Problem: err.Error()}
		}
		if a.tracing.Enabled() {
			if err := a.tracing.InstrumentRedis(a.redis); err != nil {
				return fmt.Errorf("redis tracing: %w", err)
			}
		}
	}
	return nil
}

// startShared starts what the modules record into, read from and publish
// through: the audit trail, the flags, the cache and the event bus.
func (a *App) startShared(ctx context.Context, cursors *query.Codec, rc redis.UniversalClient) (err error) {
	cfg, log := a.cfg, a.log
	// The audit trail and the flags come before everything that records
	// into or reads from them.
	a.cursors = cursors
	a.audit = audit.New(a.db.Gorm)
	if a.flags, err = flags.New(ctx, flags.Options{
		Source: flagstore.New(a.db.Gorm), Redis: a.redis, Namespace: cfg.Cache.Namespace, SeedFile: cfg.FlagsFile,
		Registerer: a.metrics.Registry, Log: log.With("component", "flags"),
	}); err != nil {
		return fmt.Errorf("feature flags: %w", err)
	}
	a.flags.Start(a.life)
	a.cache, err = cache.New(cache.Config{
		Namespace:    cfg.Cache.Namespace,
		L1MaxEntries: cfg.Cache.L1MaxEntries,
		L1TTL:        cfg.Cache.L1TTL,
		L2TTL:        cfg.Cache.L2TTL,
		NegativeTTL:  cfg.Cache.NegativeTTL,
		StaleFor:     cfg.Cache.StaleFor,
		AckTimeout:   cfg.Cache.InvalidationAckTimeout,
		RedisTimeout: cfg.Cache.RedisTimeout,
		L2Enabled:    func(ctx context.Context) bool { return a.flags.Enabled(ctx, flags.L2CacheEnabled) },
		LoadContext:  db.FreshSince, // with replicas: fills after an invalidation never read a lagging one
	}, rc, log.With("component", "cache"), a.metrics.Registry)
	if err != nil {
		return err
	}
	// The application's lifetime, not the signal: a draining instance
	// serves for shutdown_delay after SIGTERM and must keep dropping what
	// other instances invalidate.
	a.cache.Start(a.life)

	// The event bus comes before the modules: they append to its outbox and
	// subscribe in their constructors.
	if a.events, err = events.New(events.Config{DB: a.db.Gorm, Postgres: a.db.Dialect == db.Postgres, NATSURL: cfg.NATS.URL,
		Log: log.With("component", "events"), Registry: a.metrics.Registry,
		TracerProvider: a.tracing.Provider, Propagator: a.tracing.Propagator,
		Stream: a.stream, Audit: a.audit}); err != nil {
		return err
	}
	return nil
}

// startModules builds the modules on the platform and starts them once all
// have subscribed to the events they react to.
func (a *App) startModules(ctx context.Context, cursors *query.Codec) (err error) {
	cfg, log := a.cfg, a.log
	if a.users, err = usersimpl.New(usersimpl.Deps{DB: a.db.Gorm, Tokens: a.tokens, Cursors: cursors, BaseURL: cfg.HTTP.PublicBaseURL,
		Log: log, Audit: a.audit, RefreshTTL: cfg.Auth.RefreshTokenTTL, MFA: a.mfa, Privacy: usersimpl.Privacy{Events: a.events,
			OrdersOf: func(ctx context.Context, id string) ([]orders.Order, error) {
				return a.orders.Service().ListForUser(ctx, id)
			}},
		// a.rate is built further down, before anything is served.
		AccountLimit: func(c *gin.Context, account string) bool { return a.rate.LimitAccount(c, ratelimit.GroupAuth, account) }}); err != nil {
		return err
	}
	if a.products, err = productsimpl.New(productsimpl.Deps{DB: a.db.Gorm, Postgres: a.db.Dialect == db.Postgres, Cache: a.cache,
		Cursors: cursors, Log: log, Events: a.events, Audit: a.audit, MFA: a.mfa, HTTP: productsimpl.HTTPOptions{
			BaseURL: cfg.HTTP.PublicBaseURL, MaxAge: cfg.Cache.CatalogueMaxAge, StaleWhileRe: cfg.Cache.CatalogueStaleWhileRe,
			SearchEnabled: func(ctx context.Context) bool { return a.flags.Enabled(ctx, productsimpl.SearchEnabled) },
			SKUMatch:      func(ctx context.Context) bool { return a.flags.Enabled(ctx, productsimpl.SearchSKUMatch) },
		}}); err != nil {
		return err
	}
	if a.orders, err = ordersimpl.New(ordersimpl.Deps{DB: a.db.Gorm, Postgres: a.db.Dialect == db.Postgres,
		Products: a.products.Service(), Events: a.events, Cursors: cursors, Log: log, Registry: a.metrics.Registry,
		PaymentProviderURL: cfg.Payment.ProviderURL, BaseURL: cfg.HTTP.PublicBaseURL, PaymentTransport: a.tracing.Transport,
		Audit: a.audit, MFA: a.mfa, Timing: a.ordersTiming,
		CheckoutEnabled: func(ctx context.Context) bool { return a.flags.Enabled(ctx, ordersimpl.CheckoutEnabled) }}); err != nil {
		return err
	}
	// Every module has subscribed: start delivering events.
	if err := a.events.Start(a.life); err != nil {
		return err
	}
	a.users.Start(a.life)
	a.products.Start(a.life)
	a.orders.Start(a.life)

	if err := a.buildOIDC(); err != nil {
		return err
	}
	if err := a.users.Accounts().BootstrapAdmin(ctx, cfg.Auth.BootstrapAdminEmail, cfg.Auth.BootstrapAdminPassword); err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	return nil
}

// startOperations adds what runs around the modules: the readiness checks,
// the replicas, the overload and rate limits and the console's figures.
func (a *App) startOperations(rc redis.UniversalClient) error {
	cfg, log := a.cfg, a.log
	a.health = health.New(&a.ready,
		// The guard's verdict, not a fresh ping: a black-holed database
		// must not make /readyz itself hang.
		health.Check{Name: "database", Critical: true, Run: a.dbGuard.Check},
		// Read through the pool on every probe (a few one-row queries) and
		// never cached: a verdict cached during a database outage would
		// keep the instance unready after the database is back.
		health.Check{Name: "migrations", Critical: true, Run: a.migrationsCurrent},
	)
	// Non-critical: orders are still accepted and stay pending while the
	// payment provider is away; the open breaker says so.
	a.health.Add(health.Check{Name: "payment_provider", Run: func(context.Context) error {
		if st := a.orders.Payments().State(); st != "closed" {
			return fmt.Errorf("breaker %s", st)
		}
		return nil
	}})
	if cfg.NATS.URL != "" {
		// Non-critical: the outbox keeps events while NATS is away.
		a.health.Add(health.Check{Name: "events", Run: a.events.Health})
	}
	if a.redis != nil {
		a.metrics.DependencyUp("redis", a.cache.L2Healthy)
		a.health.Add(health.Check{Name: "redis", Run: func(context.Context) error {
			if !a.cache.L2Healthy() {
				return errors.New("circuit open")
			}
			return nil
		}})
	}
	if err := a.startReplicas(); err != nil {
		return err
	}
	a.limiter = resilience.NewLimiter(resilience.LimiterConfig{Initial: cfg.Overload.InitialLimit,
		Min: cfg.Overload.MinLimit, Max: cfg.Overload.MaxLimit})
	a.limiter.Register(a.metrics.Registry)
	a.rate = newRateLimiter(cfg, rc, a.flags, a.metrics.Registry, log)
	a.rate.Start(a.life) // the instance count that divides the limit while Redis is down
	if a.redis != nil && cfg.RateLimit.Enabled {
		// Non-critical: limits hold per instance while Redis is away.
		a.health.Add(health.Check{Name: "ratelimit", Run: a.rate.Health})
	}
	a.stats = observability.NewSampler(a.metrics.Registry, statsWindow)
	go a.stats.Run(a.life, statsEvery)
	return nil
}

func (a *App) migrationsCurrent(ctx context.Context) error {
	return a.migrator.Ready(ctx, a.db.SQL)
}

// Close releases everything New opened, in reverse order.
func (a *App) Close() {
	if a.stop != nil {
		a.stop()
	}
	if a.flags != nil {
		a.flags.Close()
	}
	if a.orders != nil {
		a.orders.Close()
	}
	if a.products != nil {
		a.products.Close()
	}
	if a.users != nil {
		a.users.Close()
	}
	if a.events != nil {
		_ = a.events.Close()
	}
	if a.cache != nil {
		_ = a.cache.Close()
	}
	if a.rate != nil {
		a.rate.Close()
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if a.db != nil {
		_ = a.db.Close()
	}
	if a.tracing != nil {
		_ = a.tracing.CloseWithTimeout() // last: flushes the spans of everything above
	}
}

// deriveKey gives each use of the signing key its own sub-key.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
