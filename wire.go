package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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
	"example.com/productapi/platform/health"
	"example.com/productapi/platform/httpx"
	"example.com/productapi/platform/migrate"
	"example.com/productapi/platform/observability"
	"example.com/productapi/platform/query"
	"example.com/productapi/platform/ratelimit"
	"example.com/productapi/platform/resilience"
	"example.com/productapi/web"
)

// application is one wired instance: config -> platform -> modules -> router.
type application struct {
	cfg      config.Config
	log      *slog.Logger
	db       *db.DB
	redis    *redis.Client
	cache    *cache.Cache
	metrics  *observability.Metrics
	tokens   *auth.Tokens
	mfa      *auth.MFAPolicy // auth.require_mfa_for: admin groups that need a TOTP login
	migrator *migrate.Migrator
	health   *health.Checker
	ready    atomic.Bool
	users    *usersimpl.Module
	products *productsimpl.Module
	orders   *ordersimpl.Module
	events   *events.Bus
	audit    *audit.Log
	flags    *flags.Flags
	router   *gin.Engine
	limiter  *resilience.Limiter
	rate     *ratelimit.Limiter
	external []auth.External // accepted external token issuers (OIDC), see security.go
	tracing  *observability.Tracing
	traceOpt observability.TracingOptions // set by buildOptions (tests)
	// ordersTiming is the payment driver's and key janitor's timing (zero:
	// production defaults; tests set test-sized values by a buildOption).
	ordersTiming ordersimpl.Timing
	stream       string // JetStream stream; "" = the default (tests set their own)
	// onOpen runs right after the database opens, before anything else
	// uses it (tests register GORM callbacks here: registering one while
	// background work runs queries is a data race in GORM).
	onOpen  func(*gorm.DB) error
	dbGuard *db.Guard
	stats   *observability.Sampler // the console's traffic figures
	// life bounds the background goroutines build starts; Close ends it.
	life context.Context
	stop context.CancelFunc
}

func newMigrator(d *db.DB, log *slog.Logger) *migrate.Migrator {
	return migrate.New(migrations.FS, migrations.Modules, string(d.Dialect), d.MigrateURL, log)
}

// build wires everything. The caller owns Close.
func build(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...buildOption) (_ *application, err error) {
	a := &application{cfg: cfg, log: log, metrics: observability.NewMetrics()}
	for _, o := range opts {
		o(a)
	}
	a.life, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.tracing, err = observability.NewTracing(ctx, cfg.Tracing, a.traceOpt); err != nil {
		return nil, err
	}
	if a.db, err = db.Open(ctx, cfg.Database, log); err != nil {
		return nil, err
	}
	if a.onOpen != nil {
		if err := a.onOpen(a.db.Gorm); err != nil {
			return nil, err
		}
	}
	a.metrics.WatchDB(a.db.SQL, string(a.db.Dialect))
	if err := a.metrics.CountQueries(a.db.Gorm); err != nil { // db_queries_total
		return nil, err
	}
	if a.tracing.Enabled() {
		if err := a.db.Trace(a.tracing.ChildSpansOnly()); err != nil {
			return nil, fmt.Errorf("database tracing: %w", err)
		}
	}
	if a.dbGuard, err = db.NewGuard(a.db, cfg.Database.ProbeInterval, cfg.Database.ProbeTimeout, log.With("component", "db")); err != nil {
		return nil, err
	}
	go a.dbGuard.Run(a.life)
	a.metrics.DependencyUp("database", a.dbGuard.Up)
	a.migrator = newMigrator(a.db, log)
	if cfg.Database.AutoMigrate {
		if err := a.migrator.Up(); err != nil {
			return nil, fmt.Errorf("database migrations: %w", err)
		}
	}
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
	cursors := query.NewCodec(deriveKey(key, "cursor-v1"), previousCursorKeys...)

	if cfg.Redis.URL != "" {
		if a.redis, err = cache.NewRedisClient(cfg.Redis.URL); err != nil {
			return nil, &config.Error{Setting: "REDIS_URL", Problem: err.Error()}
		}
		if a.tracing.Enabled() {
			if err := a.tracing.InstrumentRedis(a.redis); err != nil {
				return nil, fmt.Errorf("redis tracing: %w", err)
			}
		}
	}
	var rc redis.UniversalClient
	if a.redis != nil {
		rc = a.redis
	}
	// The audit trail and the flags come before everything that records
	// into or reads from them.
	a.audit = audit.New(a.db.Gorm, cursors).WithBaseURL(cfg.HTTP.PublicBaseURL)
	if a.flags, err = flags.New(ctx, flags.Options{
		DB: a.db.Gorm, Redis: a.redis, Namespace: cfg.Cache.Namespace, SeedFile: cfg.FlagsFile,
		Audit: a.audit, Cursors: cursors, BaseURL: cfg.HTTP.PublicBaseURL,
		Registerer: a.metrics.Registry, Log: log.With("component", "flags"),
	}); err != nil {
		return nil, fmt.Errorf("feature flags: %w", err)
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
		L2Enabled:    func(ctx context.Context) bool { return a.flags.Bool(ctx, flags.L2CacheEnabled, true) },
		LoadContext:  db.FreshSince, // with replicas: fills after an invalidation never read a lagging one
	}, rc, log.With("component", "cache"), a.metrics.Registry)
	if err != nil {
		return nil, err
	}
	// The application's lifetime, not the signal: a draining instance
	// serves for shutdown_delay after SIGTERM and must keep dropping what
	// other instances invalidate.
	a.cache.Start(a.life)

	// The event bus comes before the modules: they append to its outbox and
	// subscribe in their constructors.
	if a.events, err = events.New(events.Config{DB: a.db.Gorm, Postgres: a.db.Dialect == db.Postgres, NATSURL: cfg.NATS.URL,
		Log: log.With("component", "events"), Registry: a.metrics.Registry, Cursors: cursors,
		BaseURL: cfg.HTTP.PublicBaseURL, TracerProvider: a.tracing.Provider, Propagator: a.tracing.Propagator,
		Stream: a.stream, Audit: a.audit}); err != nil {
		return nil, err
	}
	if a.users, err = usersimpl.New(usersimpl.Deps{DB: a.db.Gorm, Tokens: a.tokens, Cursors: cursors, BaseURL: cfg.HTTP.PublicBaseURL,
		Log: log, Audit: a.audit, RefreshTTL: cfg.Auth.RefreshTokenTTL, MFA: a.mfa, Privacy: usersimpl.Privacy{Events: a.events,
			OrdersOf: func(ctx context.Context, id string) ([]orders.Order, error) {
				return a.orders.Service().ListForUser(ctx, id)
			}},
		// a.rate is built further down, before anything is served.
		AccountLimit: func(c *gin.Context, account string) bool { return a.rate.LimitAccount(c, ratelimit.GroupAuth, account) }}); err != nil {
		return nil, err
	}
	if a.products, err = productsimpl.New(productsimpl.Deps{DB: a.db.Gorm, Postgres: a.db.Dialect == db.Postgres, Cache: a.cache,
		Cursors: cursors, Log: log, Events: a.events, Audit: a.audit, MFA: a.mfa, HTTP: productsimpl.HTTPOptions{
			BaseURL: cfg.HTTP.PublicBaseURL, MaxAge: cfg.Cache.CatalogueMaxAge, StaleWhileRe: cfg.Cache.CatalogueStaleWhileRe,
			SearchEnabled: func(ctx context.Context) bool { return a.flags.Bool(ctx, flags.SearchEnabled, true) },
			SKUMatch:      func(ctx context.Context) bool { return a.flags.Bool(ctx, flags.SearchSKUMatch, false) },
		}}); err != nil {
		return nil, err
	}
	if a.orders, err = ordersimpl.New(ordersimpl.Deps{DB: a.db.Gorm, Postgres: a.db.Dialect == db.Postgres,
		Products: a.products.Service(), Events: a.events, Cursors: cursors, Log: log, Registry: a.metrics.Registry,
		PaymentProviderURL: cfg.Payment.ProviderURL, BaseURL: cfg.HTTP.PublicBaseURL, PaymentTransport: a.tracing.Transport,
		Audit: a.audit, MFA: a.mfa, Timing: a.ordersTiming,
		CheckoutEnabled: func(ctx context.Context) bool { return a.flags.Bool(ctx, flags.CheckoutEnabled, true) }}); err != nil {
		return nil, err
	}
	// Every module has subscribed: start delivering events.
	if err := a.events.Start(a.life); err != nil {
		return nil, err
	}
	a.users.Start(a.life)
	a.products.Start(a.life)
	a.orders.Start(a.life)

	if err := a.buildOIDC(); err != nil {
		return nil, err
	}
	if err := a.users.Accounts().BootstrapAdmin(ctx, cfg.Auth.BootstrapAdminEmail, cfg.Auth.BootstrapAdminPassword); err != nil {
		return nil, fmt.Errorf("bootstrap admin: %w", err)
	}
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
		return nil, err
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
	a.router = a.routes()
	return a, nil
}

// routes mounts every module in one readable place.
func (a *application) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	_ = r.SetTrustedProxies(a.cfg.HTTP.TrustedProxies) // validated at config load; nil trusts none
	r.Use(a.tracing.Middleware())                      // first: the access log carries the trace ID
	r.Use(httpx.Base(a.log, a.cfg.HTTP.MaxBodyBytes)...)
	if cors := httpx.CORS(httpx.CORSOptions{AllowedOrigins: a.cfg.HTTP.CORS.AllowedOrigins,
		AllowCredentials: a.cfg.HTTP.CORS.AllowCredentials, MaxAge: a.cfg.HTTP.CORS.MaxAge}); cors != nil {
		r.Use(cors) // before auth and limits: preflights carry no token
	}
	r.Use(a.metrics.Middleware())
	// After CORS (a refused request still carries its headers) and the
	// metrics (it is counted).
	r.Use(httpx.StrictURL)
	r.Use(a.limiter.Middleware(requestClass))
	r.Use(flags.Middleware(), audit.Middleware())
	r.NoRoute(httpx.NotFound)
	r.NoMethod(httpx.MethodNotAllowed)

	r.GET("/livez", health.Live)
	r.GET("/readyz", a.health.Ready)
	r.GET("/metrics", a.metrics.Handler())
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", web.OpenAPIYAML()) })
	r.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", web.OpenAPIJSON()) })
	r.GET("/docs", serveDocs)
	r.GET("/docs/:file", serveDocs)     // the page's script and style
	r.GET("/admin/*path", serveConsole) // the operator console (static files)
	a.consoleRoutes(r)                  // its sign-in, limited in group "console"

	a.flags.OFREPRoutes(r) // public, at the root: the protocol fixes /ofrep/v1
	// Rate limits key by the caller, so they come after authentication
	// (and after flags.Middleware, which the runtime flag needs).
	reads := a.readRouting()
	v1 := r.Group("/v1", append([]gin.HandlerFunc{a.tokens.Authenticate(a.external...), a.rate.Middleware()}, reads...)...)
	// The credential endpoints never authenticate: a login with a stale
	// token works, and a guess counts per address (and per target account,
	// in the handlers), never in the bucket of a token sent along.
	public := r.Group("/v1", append([]gin.HandlerFunc{a.rate.Middleware()}, reads...)...)
	a.users.Routes(v1, public)
	a.products.Routes(v1)
	a.orders.Routes(v1)
	admin := v1.Group("", auth.Require(auth.RoleAdmin))
	a.events.Routes(admin.Group("", a.mfa.For("admin.events")))
	a.flags.AdminRoutes(admin.Group("", a.mfa.For("admin.flags")))
	a.audit.Routes(admin.Group("", a.mfa.For("admin.audit")))
	admin.GET("/admin/stats", a.adminStats)
	return r
}

func (a *application) migrationsCurrent(ctx context.Context) error {
	return a.migrator.Ready(ctx, a.db.SQL)
}

// Close releases everything build opened, in reverse order.
func (a *application) Close() {
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

// listRoutes are the collection reads: the heavy, cacheable-but-varied work.
var listRoutes = map[string]bool{"/v1/products": true, "/v1/orders": true, "/v1/users": true}

// requestClass is the shedding order under overload: operational routes are
// never limited, search and lists go first, single reads, checkout and
// every write last.
func requestClass(c *gin.Context) (resilience.Class, bool) {
	route := c.FullPath()
	switch route {
	case "/livez", "/readyz", "/metrics":
		return resilience.Critical, false
	case "/v1/admin/stats": // the console's health view must keep working under overload
		return resilience.Critical, true
	}
	if c.Request.Method == http.MethodGet && (c.Query("q") != "" || listRoutes[route] || strings.HasPrefix(route, "/v1/admin/")) {
		return resilience.Sheddable, true
	}
	return resilience.Critical, true
}

// deriveKey gives each use of the signing key its own sub-key.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
