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
}

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
	CatalogueMaxAge        time.Duration `yaml:"catalogue_max_age"`
	CatalogueStaleWhileRe  time.Duration `yaml:"catalogue_stale_while_revalidate"`
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
		},
		Auth:     Auth{Issuer: "productapi", AccessTokenTTL: 15 * time.Minute},
		Log:      Log{Format: "text", Level: "info"},
		Overload: Overload{InitialLimit: 256, MinLimit: 64, MaxLimit: 4096},
		Cache: Cache{
			Namespace:              "productapi",
			L1MaxEntries:           10000,
			L1TTL:                  30 * time.Second,
			L2TTL:                  5 * time.Minute,
			NegativeTTL:            5 * time.Second,
			StaleFor:               10 * time.Minute,
			InvalidationAckTimeout: 100 * time.Millisecond,
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
	str("HTTP_ADDR", &cfg.HTTP.Addr)
	str("DATA_DIR", &cfg.DataDir)
	str("FLAGS_FILE", &cfg.FlagsFile)
	str("DATABASE_URL", &cfg.Database.URL)
	str("REDIS_URL", &cfg.Redis.URL)
	str("CACHE_NAMESPACE", &cfg.Cache.Namespace)
	str("NATS_URL", &cfg.NATS.URL)
	str("PAYMENT_PROVIDER_URL", &cfg.Payment.ProviderURL)
	str("AUTH_SIGNING_KEY", &cfg.Auth.SigningKey)
	str("BOOTSTRAP_ADMIN_EMAIL", &cfg.Auth.BootstrapAdminEmail)
	str("BOOTSTRAP_ADMIN_PASSWORD", &cfg.Auth.BootstrapAdminPassword)
	str("LOG_FORMAT", &cfg.Log.Format)
	str("LOG_LEVEL", &cfg.Log.Level)
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
	if c.Auth.AccessTokenTTL <= 0 {
		return &Error{Setting: "auth.access_token_ttl", Problem: "must be positive"}
	}
	if c.HTTP.MaxBodyBytes <= 0 {
		return &Error{Setting: "http.max_body_bytes", Problem: "must be positive"}
	}
	if c.Database.MaxOpenConns <= 0 {
		return &Error{Setting: "database.max_open_conns", Problem: "must be positive"}
	}
	if c.Cache.L1MaxEntries <= 0 {
		return &Error{Setting: "cache.l1_max_entries", Problem: "must be positive"}
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
