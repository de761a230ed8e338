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
	"os"
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
