// Package config loads the service configuration: defaults, then
// configs/config.yaml (or the file named by -config / CONFIG_FILE), then the
// environment variables of the public contract. Every failure names the
// setting at fault so start-up can stop with one clear line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every setting of the service. configs/config.yaml documents each.
type Config struct {
	DataDir string `yaml:"data_dir"`
	// FlagsFile seeds feature flags missing from the database (flagd format).
	FlagsFile string   `yaml:"flags_file"`
	HTTP      HTTP     `yaml:"http"`
	Database  Database `yaml:"database"`
	Redis     Redis    `yaml:"redis"`
	NATS      NATS     `yaml:"nats"`
	Payment   Payment  `yaml:"payment"`
	Auth      Auth     `yaml:"auth"`
	Log       Log      `yaml:"log"`
	Cache     Cache    `yaml:"cache"`
	Overload  Overload `yaml:"overload"`

	RateLimit RateLimit `yaml:"ratelimit"`
	Debug     Debug     `yaml:"debug"`
	Tracing   Tracing   `yaml:"tracing"`
}

// Debug holds opt-in diagnostics, all off by default.
type Debug struct {
	// PprofAddr serves net/http/pprof on this loopback address; "" = off.
	PprofAddr string `yaml:"pprof_addr"`
}

type HTTP struct {
	Addr              string        `yaml:"addr"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`
	TrustedProxies    []string      `yaml:"trusted_proxies"`
	PublicBaseURL     string        `yaml:"public_base_url"`

	// ShutdownDelay: on SIGTERM /readyz turns 503 and the server keeps
	// serving this long before it stops listening (load balancer drain).
	ShutdownDelay  time.Duration `yaml:"shutdown_delay"`
	MaxHeaderBytes int           `yaml:"max_header_bytes"`
	CORS           CORS          `yaml:"cors"`
	// HTTPS on Addr when both files are set (see tls.go).
	TLSCertFile       string        `yaml:"tls_cert_file"`
	TLSKeyFile        string        `yaml:"tls_key_file"`
	TLSReloadInterval time.Duration `yaml:"tls_reload_interval"`
}

type Database struct {
	URL             string        `yaml:"url"`
	ReplicaURLs     []string      `yaml:"replica_urls"`
	SQLitePath      string        `yaml:"sqlite_path"`
	MaxOpenConns    int           `yaml:"max_open_conns"`
	MaxIdleConns    int           `yaml:"max_idle_conns"`
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime"`
	ConnMaxIdleTime time.Duration `yaml:"conn_max_idle_time"`
	QueryTimeout    time.Duration `yaml:"query_timeout"`
	// ProbeInterval/ProbeTimeout drive the guard that fails requests fast
	// (503) while the database is unreachable and lets them through again
	// when it answers.
	ProbeInterval  time.Duration `yaml:"probe_interval"`
	ProbeTimeout   time.Duration `yaml:"probe_timeout"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	AutoMigrate    bool          `yaml:"auto_migrate"`
	// Replicas and pooling (README "Read replicas and pooling").
	MigrateURL           string        `yaml:"migrate_url"`             // direct to Postgres, never through PgBouncer
	PgBouncer            bool          `yaml:"pgbouncer"`               // transaction pooling: no server-side prepared statements
	ReplicaMaxLag        time.Duration `yaml:"replica_max_lag"`         // replicas further behind are skipped
	ReplicaCheckInterval time.Duration `yaml:"replica_check_interval"`  // lag/health check period
	ReadYourWritesWindow time.Duration `yaml:"read_your_writes_window"` // a caller's reads go to the primary this long after a write
}

type Redis struct {
	URL string `yaml:"url"`
}

type NATS struct {
	URL string `yaml:"url"`
}

type Payment struct {
	ProviderURL string `yaml:"provider_url"`
}

type Auth struct {
	SigningKey             string        `yaml:"signing_key"`
	Issuer                 string        `yaml:"issuer"`
	AccessTokenTTL         time.Duration `yaml:"access_token_ttl"`
	BootstrapAdminEmail    string        `yaml:"bootstrap_admin_email"`
	BootstrapAdminPassword string        `yaml:"bootstrap_admin_password"`
	// Token lifecycle and MFA.
	Audience            string        `yaml:"audience"`
	PreviousSigningKeys []string      `yaml:"previous_signing_keys"`
	RefreshTokenTTL     time.Duration `yaml:"refresh_token_ttl"`
	RequireMFAFor       []string      `yaml:"require_mfa_for"`
	OIDC                OIDC          `yaml:"oidc"`
}

// Tracing configures OpenTelemetry. Spans are exported over OTLP/HTTP only
// when OTLPEndpoint is set; W3C trace context is propagated either way.
type Tracing struct {
	OTLPEndpoint string  `yaml:"otlp_endpoint"` // base URL of an OTLP/HTTP collector (http://host:4318)
	ServiceName  string  `yaml:"service_name"`
	Sampler      string  `yaml:"sampler"`      // OTEL_TRACES_SAMPLER names
	SampleRatio  float64 `yaml:"sample_ratio"` // for the *traceidratio samplers, 0..1
}

// TraceSamplers are the OTEL_TRACES_SAMPLER values understood.
var TraceSamplers = []string{"parentbased_traceidratio", "parentbased_always_on", "parentbased_always_off",
	"traceidratio", "always_on", "always_off"}

type Log struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

// Overload bounds the adaptive concurrency limit that sheds search and
// lists first (503 + Retry-After) when latency shows queueing.
type Overload struct {
	InitialLimit int `yaml:"initial_limit"`
	MinLimit     int `yaml:"min_limit"`
	MaxLimit     int `yaml:"max_limit"`
}

// RateLimit configures per-route-group sliding-window limits (see
// platform/ratelimit). Shared through Redis when REDIS_URL is set.
type RateLimit struct {
	Enabled bool `yaml:"enabled"`
	// RedisTimeout bounds one shared decision; beyond it (or while Redis is
	// down) the instance decides locally.
	RedisTimeout time.Duration   `yaml:"redis_timeout"`
	Groups       RateLimitGroups `yaml:"groups"`
	// InstanceHeartbeat: how often each instance records itself in Redis
	// and recounts the live ones; while Redis is down each instance admits
	// limit / that count.
	InstanceHeartbeat time.Duration `yaml:"instance_heartbeat"`
}

// RateLimitGroups holds the policy of each route group.
type RateLimitGroups struct {
	Auth      RateLimitGroup `yaml:"auth"`
	Catalogue RateLimitGroup `yaml:"catalogue"`
	Default   RateLimitGroup `yaml:"default"`
	Console   RateLimitGroup `yaml:"console"`
}

// RateLimitGroup admits Limit requests per caller in any Window.
type RateLimitGroup struct {
	Limit  int           `yaml:"limit"`
	Window time.Duration `yaml:"window"`
}

type Cache struct {
	// Namespace prefixes every Redis key and the invalidation channel, so
	// several deployments (or test runs) can share one Redis safely.
	Namespace              string        `yaml:"namespace"`
	L1MaxEntries           int           `yaml:"l1_max_entries"`
	L1TTL                  time.Duration `yaml:"l1_ttl"`
	L2TTL                  time.Duration `yaml:"l2_ttl"`
	NegativeTTL            time.Duration `yaml:"negative_ttl"`
	StaleFor               time.Duration `yaml:"stale_for"`
	InvalidationAckTimeout time.Duration `yaml:"invalidation_ack_timeout"`
	// RedisTimeout bounds one L2 call; a few overruns in a row open the
	// breaker and reads skip Redis until it answers again.
	RedisTimeout          time.Duration `yaml:"redis_timeout"`
	CatalogueMaxAge       time.Duration `yaml:"catalogue_max_age"`
	CatalogueStaleWhileRe time.Duration `yaml:"catalogue_stale_while_revalidate"`
}

// Defaults are the values used when neither the file nor the environment
// sets a key. They make `go run .` work on a machine with nothing installed.
func Defaults() Config {
	return Config{
		DataDir:   "./data",
		FlagsFile: "configs/flags.json",
		HTTP: HTTP{
			Addr:              ":8080",
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   20 * time.Second,
			MaxBodyBytes:      1 << 20,
			TrustedProxies:    []string{},
			MaxHeaderBytes:    64 << 10,
			CORS:              defaultCORS(),
			TLSReloadInterval: 10 * time.Second,
		},
		Database: Database{
			MaxOpenConns:    20,
			MaxIdleConns:    20,
			ConnMaxLifetime: 30 * time.Minute,
			ConnMaxIdleTime: 5 * time.Minute,
			QueryTimeout:    5 * time.Second,
			ProbeInterval:   500 * time.Millisecond,
			ProbeTimeout:    time.Second,
			ConnectTimeout:  3 * time.Second,
			AutoMigrate:     true,

			ReplicaMaxLag:        5 * time.Second,
			ReplicaCheckInterval: 500 * time.Millisecond,
			ReadYourWritesWindow: 10 * time.Second,
		},
		Auth: Auth{Issuer: "productapi", AccessTokenTTL: 15 * time.Minute, Audience: "productapi", RefreshTokenTTL: 720 * time.Hour,
			PreviousSigningKeys: []string{}, RequireMFAFor: []string{}, OIDC: defaultOIDC()},
		Log:      Log{Format: "text", Level: "info"},
		Overload: Overload{InitialLimit: 256, MinLimit: 64, MaxLimit: 4096},
		RateLimit: RateLimit{Enabled: true, RedisTimeout: 50 * time.Millisecond, InstanceHeartbeat: 5 * time.Second, Groups: RateLimitGroups{
			Auth:      RateLimitGroup{Limit: 10, Window: time.Minute},
			Catalogue: RateLimitGroup{Limit: 600, Window: time.Minute},
			Default:   RateLimitGroup{Limit: 120, Window: time.Minute},
			Console:   RateLimitGroup{Limit: 10, Window: time.Minute},
		}},
		Tracing: Tracing{ServiceName: "productapi", Sampler: "parentbased_traceidratio", SampleRatio: 1},
		Cache: Cache{
			Namespace:              "productapi",
			L1MaxEntries:           10000,
			L1TTL:                  30 * time.Second,
			L2TTL:                  5 * time.Minute,
			NegativeTTL:            5 * time.Second,
			StaleFor:               10 * time.Minute,
			InvalidationAckTimeout: 100 * time.Millisecond,
			RedisTimeout:           100 * time.Millisecond,
			CatalogueMaxAge:        60 * time.Second,
			CatalogueStaleWhileRe:  300 * time.Second,
		},
	}
}

// Error is a configuration problem naming the setting at fault.
type Error struct {
	Setting string
	Problem string
}

func (e *Error) Error() string { return fmt.Sprintf("config: %s: %s", e.Setting, e.Problem) }

// DefaultPath is read when present; naming another file makes it mandatory.
const DefaultPath = "configs/config.yaml"

// Load builds the configuration. path "" means DefaultPath if it exists.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Defaults()
	explicit := path != ""
	if !explicit {
		path = getenv("CONFIG_FILE")
		explicit = path != ""
	}
	if !explicit {
		path = DefaultPath
	}
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		// An empty file decodes to io.EOF: nothing set, defaults stand.
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, &Error{Setting: "config file " + path, Problem: "cannot parse: " + oneLine(err.Error())}
		}
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		// No file: defaults and environment only.
	default:
		return cfg, &Error{Setting: "config file " + path, Problem: "cannot read: " + oneLine(err.Error())}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	if cfg.Database.SQLitePath == "" {
		cfg.Database.SQLitePath = strings.TrimRight(cfg.DataDir, "/") + "/app.db"
	}
	return cfg, cfg.Validate()
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	str := func(name string, dst *string) {
		if v, ok := lookup(getenv, name); ok {
			*dst = v
		}
	}
	list := func(name string, dst *[]string) {
		if v, ok := lookup(getenv, name); ok {
			*dst = nil
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" {
					*dst = append(*dst, e)
				}
			}
		}
	}
	str("HTTP_ADDR", &cfg.HTTP.Addr)
	str("DATA_DIR", &cfg.DataDir)
	str("FLAGS_FILE", &cfg.FlagsFile)
	str("DATABASE_URL", &cfg.Database.URL)
	str("DATABASE_MIGRATE_URL", &cfg.Database.MigrateURL)
	str("REDIS_URL", &cfg.Redis.URL)
	str("CACHE_NAMESPACE", &cfg.Cache.Namespace)
	str("NATS_URL", &cfg.NATS.URL)
	str("PAYMENT_PROVIDER_URL", &cfg.Payment.ProviderURL)
	str("AUTH_SIGNING_KEY", &cfg.Auth.SigningKey)
	str("BOOTSTRAP_ADMIN_EMAIL", &cfg.Auth.BootstrapAdminEmail)
	str("BOOTSTRAP_ADMIN_PASSWORD", &cfg.Auth.BootstrapAdminPassword)
	str("AUTH_AUDIENCE", &cfg.Auth.Audience)
	list("AUTH_PREVIOUS_SIGNING_KEYS", &cfg.Auth.PreviousSigningKeys)
	list("AUTH_REQUIRE_MFA_FOR", &cfg.Auth.RequireMFAFor)
	str("LOG_FORMAT", &cfg.Log.Format)
	str("LOG_LEVEL", &cfg.Log.Level)
	str("PPROF_ADDR", &cfg.Debug.PprofAddr)
	applySecurityEnv(cfg, getenv)
	str("HTTP_TLS_CERT_FILE", &cfg.HTTP.TLSCertFile)
	str("HTTP_TLS_KEY_FILE", &cfg.HTTP.TLSKeyFile)
	// The standard OpenTelemetry variables.
	str("OTEL_EXPORTER_OTLP_ENDPOINT", &cfg.Tracing.OTLPEndpoint)
	str("OTEL_SERVICE_NAME", &cfg.Tracing.ServiceName)
	str("OTEL_TRACES_SAMPLER", &cfg.Tracing.Sampler)
	if v, ok := lookup(getenv, "OTEL_TRACES_SAMPLER_ARG"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return &Error{Setting: "OTEL_TRACES_SAMPLER_ARG", Problem: fmt.Sprintf("%q is not a number (use 0..1)", v)}
		}
		cfg.Tracing.SampleRatio = f
	}
	if v, ok := lookup(getenv, "DATABASE_REPLICA_URLS"); ok {
		cfg.Database.ReplicaURLs = nil
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.Database.ReplicaURLs = append(cfg.Database.ReplicaURLs, u)
			}
		}
	}
	if v, ok := lookup(getenv, "AUTO_MIGRATE"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &Error{Setting: "AUTO_MIGRATE", Problem: fmt.Sprintf("%q is not a boolean (use true or false)", v)}
		}
		cfg.Database.AutoMigrate = b
	}
	if v, ok := lookup(getenv, "RATELIMIT_ENABLED"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &Error{Setting: "RATELIMIT_ENABLED", Problem: fmt.Sprintf("%q is not a boolean (use true or false)", v)}
		}
		cfg.RateLimit.Enabled = b
	}
	if v, ok := lookup(getenv, "DATABASE_PGBOUNCER"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &Error{Setting: "DATABASE_PGBOUNCER", Problem: fmt.Sprintf("%q is not a boolean (use true or false)", v)}
		}
		cfg.Database.PgBouncer = b
	}
	for name, dst := range map[string]*time.Duration{
		"DATABASE_REPLICA_MAX_LAG":         &cfg.Database.ReplicaMaxLag,
		"DATABASE_READ_YOUR_WRITES_WINDOW": &cfg.Database.ReadYourWritesWindow,
	} {
		if v, ok := lookup(getenv, name); ok {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return &Error{Setting: name, Problem: fmt.Sprintf("%q is not a positive duration (e.g. 5s)", v)}
			}
			*dst = d
		}
	}
	return nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

// Validate checks every setting a typo could break.
func (c Config) Validate() error {
	switch strings.ToLower(c.Log.Format) {
	case "json", "text":
	default:
		return &Error{Setting: "LOG_FORMAT (log.format)", Problem: fmt.Sprintf("unknown format %q (use json or text)", c.Log.Format)}
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		return &Error{Setting: "LOG_LEVEL (log.level)", Problem: err.Error()}
	}
	if c.Database.URL != "" {
		if err := checkURL(c.Database.URL, "postgres", "postgresql"); err != nil {
			return &Error{Setting: "DATABASE_URL", Problem: err.Error()}
		}
	}
	for _, u := range c.Database.ReplicaURLs {
		if err := checkURL(u, "postgres", "postgresql"); err != nil {
			return &Error{Setting: "DATABASE_REPLICA_URLS", Problem: err.Error()}
		}
	}
	if c.Database.MigrateURL != "" {
		if err := checkURL(c.Database.MigrateURL, "postgres", "postgresql"); err != nil {
			return &Error{Setting: "DATABASE_MIGRATE_URL", Problem: err.Error()}
		}
	}
	if c.Database.PgBouncer && c.Database.URL != "" && c.Database.MigrateURL == "" {
		return &Error{Setting: "DATABASE_MIGRATE_URL", Problem: "required with DATABASE_PGBOUNCER=true: migrations hold a session advisory lock, which transaction pooling cannot keep; point it at Postgres directly"}
	}
	if len(c.Database.ReplicaURLs) > 0 && (c.Database.ReplicaMaxLag <= 0 || c.Database.ReplicaCheckInterval <= 0 || c.Database.ReadYourWritesWindow <= 0) {
		return &Error{Setting: "database.replica_max_lag/replica_check_interval/read_your_writes_window", Problem: "must be positive"}
	}
	if len(c.Database.ReplicaURLs) > 0 && c.Database.URL == "" {
		return &Error{Setting: "DATABASE_REPLICA_URLS", Problem: "replicas need DATABASE_URL (the embedded store has no replicas)"}
	}
	if c.Cache.Namespace == "" {
		return &Error{Setting: "cache.namespace", Problem: "must not be empty"}
	}
	if c.Redis.URL != "" {
		if err := checkURL(c.Redis.URL, "redis", "rediss"); err != nil {
			return &Error{Setting: "REDIS_URL", Problem: err.Error()}
		}
	}
	if c.NATS.URL != "" {
		if err := checkURL(c.NATS.URL, "nats", "tls"); err != nil {
			return &Error{Setting: "NATS_URL", Problem: err.Error()}
		}
	}
	if c.Payment.ProviderURL != "" {
		if err := checkURL(c.Payment.ProviderURL, "http", "https"); err != nil {
			return &Error{Setting: "PAYMENT_PROVIDER_URL", Problem: err.Error()}
		}
	}
	if (c.Auth.BootstrapAdminEmail == "") != (c.Auth.BootstrapAdminPassword == "") {
		return &Error{Setting: "BOOTSTRAP_ADMIN_EMAIL/BOOTSTRAP_ADMIN_PASSWORD", Problem: "set both or neither"}
	}
	if c.Auth.BootstrapAdminPassword != "" && len(c.Auth.BootstrapAdminPassword) < 8 {
		return &Error{Setting: "BOOTSTRAP_ADMIN_PASSWORD", Problem: "must be at least 8 characters"}
	}
	if c.Auth.SigningKey != "" && len(c.Auth.SigningKey) < 32 {
		return &Error{Setting: "AUTH_SIGNING_KEY", Problem: "must be at least 32 characters"}
	}
	for _, k := range c.Auth.PreviousSigningKeys {
		if len(k) < 32 {
			return &Error{Setting: "AUTH_PREVIOUS_SIGNING_KEYS", Problem: "every key must be at least 32 characters"}
		}
	}
	if c.Auth.RefreshTokenTTL <= 0 {
		return &Error{Setting: "auth.refresh_token_ttl", Problem: "must be positive"}
	}
	if c.Auth.Audience == "" {
		return &Error{Setting: "AUTH_AUDIENCE", Problem: "must not be empty"}
	}
	if c.Auth.AccessTokenTTL <= 0 {
		return &Error{Setting: "auth.access_token_ttl", Problem: "must be positive"}
	}
	if c.HTTP.MaxBodyBytes <= 0 {
		return &Error{Setting: "http.max_body_bytes", Problem: "must be positive"}
	}
	if c.Database.MaxOpenConns <= 0 {
		return &Error{Setting: "database.max_open_conns", Problem: "must be positive"}
	}
	if c.HTTP.ShutdownDelay < 0 {
		return &Error{Setting: "http.shutdown_delay", Problem: "must not be negative"}
	}
	if c.Debug.PprofAddr != "" {
		if err := checkLoopback(c.Debug.PprofAddr); err != nil {
			return &Error{Setting: "PPROF_ADDR (debug.pprof_addr)", Problem: err.Error()}
		}
	}
	if c.Cache.L1MaxEntries <= 0 {
		return &Error{Setting: "cache.l1_max_entries", Problem: "must be positive"}
	}
	if c.Cache.RedisTimeout <= 0 {
		return &Error{Setting: "cache.redis_timeout", Problem: "must be positive"}
	}
	if err := c.HTTP.validateTLS(); err != nil {
		return err
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	if err := c.RateLimit.validate(); err != nil {
		return err
	}
	return c.Tracing.validate()
}

func (r RateLimit) validate() error {
	if r.RedisTimeout <= 0 {
		return &Error{Setting: "ratelimit.redis_timeout", Problem: "must be positive"}
	}
	if r.InstanceHeartbeat <= 0 {
		return &Error{Setting: "ratelimit.instance_heartbeat", Problem: "must be positive"}
	}
	for _, g := range []struct {
		name string
		g    RateLimitGroup
	}{{"auth", r.Groups.Auth}, {"catalogue", r.Groups.Catalogue}, {"default", r.Groups.Default}, {"console", r.Groups.Console}} {
		if g.g.Limit <= 0 {
			return &Error{Setting: "ratelimit.groups." + g.name + ".limit", Problem: "must be positive"}
		}
		if g.g.Window < time.Second || g.g.Window%time.Second != 0 {
			return &Error{Setting: "ratelimit.groups." + g.name + ".window", Problem: fmt.Sprintf("must be a whole number of seconds >= 1s (got %s)", g.g.Window)}
		}
	}
	return nil
}

func (t Tracing) validate() error {
	if t.OTLPEndpoint != "" {
		if err := checkURL(t.OTLPEndpoint, "http", "https"); err != nil {
			return &Error{Setting: "OTEL_EXPORTER_OTLP_ENDPOINT (tracing.otlp_endpoint)", Problem: err.Error()}
		}
	}
	if strings.TrimSpace(t.ServiceName) == "" {
		return &Error{Setting: "OTEL_SERVICE_NAME (tracing.service_name)", Problem: "must not be empty"}
	}
	known := false
	for _, s := range TraceSamplers {
		known = known || t.Sampler == s
	}
	if !known {
		return &Error{Setting: "OTEL_TRACES_SAMPLER (tracing.sampler)", Problem: fmt.Sprintf("unknown sampler %q (use %s)", t.Sampler, strings.Join(TraceSamplers, ", "))}
	}
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) {
		return &Error{Setting: "OTEL_TRACES_SAMPLER_ARG (tracing.sample_ratio)", Problem: fmt.Sprintf("%v is outside 0..1", t.SampleRatio)}
	}
	return nil
}

// checkURL rejects URLs with the wrong scheme or no host, without echoing
// credentials that may be embedded in them.
func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return fmt.Errorf("scheme must be %s (got %q)", strings.Join(schemes, " or "), u.Scheme)
	}
	if u.Host == "" {
		return errors.New("URL has no host")
	}
	return nil
}

// checkLoopback accepts host:port on 127.0.0.0/8, ::1 or localhost only.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not a loopback address (use 127.0.0.1:port)", addr)
	}
	return nil
}

// ParseLevel maps a LOG_LEVEL value to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown level %q (use debug, info, warn or error)", s)
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
