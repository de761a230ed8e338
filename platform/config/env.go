package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// envBinding ties one environment variable of the public contract (README's
// configuration table) to the setting it overrides. A variable that is unset
// or blank leaves the file's value (or the default) in place.
type envBinding struct {
	name  string
	apply func(cfg *Config, value string) error
}

// bind builds a binding from a parser and the field it sets; a parse error
// names the variable and quotes the value.
func bind[T any](name string, parse func(string) (T, error), field func(*Config) *T) envBinding {
	return envBinding{name: name, apply: func(cfg *Config, v string) error {
		x, err := parse(v)
		if err != nil {
			return &Error{Setting: name, Problem: fmt.Sprintf("%q %v", v, err)}
		}
		*field(cfg) = x
		return nil
	}}
}

// envBindings is every environment variable the service reads besides
// CONFIG_FILE (which picks the file, see Load). Adding a variable is one row
// here and one in README's table (TestEveryDocumentedVariableIsBound).
var envBindings = []envBinding{
	bind("HTTP_ADDR", text, func(c *Config) *string { return &c.HTTP.Addr }),
	bind("HTTP_TLS_CERT_FILE", text, func(c *Config) *string { return &c.HTTP.TLSCertFile }),
	bind("HTTP_TLS_KEY_FILE", text, func(c *Config) *string { return &c.HTTP.TLSKeyFile }),
	bind("CORS_ALLOWED_ORIGINS", list, func(c *Config) *[]string { return &c.HTTP.CORS.AllowedOrigins }),
	bind("DATA_DIR", text, func(c *Config) *string { return &c.DataDir }),
	bind("FLAGS_FILE", text, func(c *Config) *string { return &c.FlagsFile }),

	bind("DATABASE_URL", text, func(c *Config) *string { return &c.Database.URL }),
	bind("DATABASE_MIGRATE_URL", text, func(c *Config) *string { return &c.Database.MigrateURL }),
	bind("DATABASE_REPLICA_URLS", list, func(c *Config) *[]string { return &c.Database.ReplicaURLs }),
	bind("DATABASE_REPLICA_MAX_LAG", positiveDuration, func(c *Config) *time.Duration { return &c.Database.ReplicaMaxLag }),
	bind("DATABASE_READ_YOUR_WRITES_WINDOW", positiveDuration, func(c *Config) *time.Duration { return &c.Database.ReadYourWritesWindow }),
	bind("DATABASE_PGBOUNCER", boolean, func(c *Config) *bool { return &c.Database.PgBouncer }),
	bind("AUTO_MIGRATE", boolean, func(c *Config) *bool { return &c.Database.AutoMigrate }),

	bind("REDIS_URL", text, func(c *Config) *string { return &c.Redis.URL }),
	bind("CACHE_NAMESPACE", text, func(c *Config) *string { return &c.Cache.Namespace }),
	bind("NATS_URL", text, func(c *Config) *string { return &c.NATS.URL }),
	bind("PAYMENT_PROVIDER_URL", text, func(c *Config) *string { return &c.Payment.ProviderURL }),

	bind("AUTH_SIGNING_KEY", text, func(c *Config) *string { return &c.Auth.SigningKey }),
	bind("AUTH_PREVIOUS_SIGNING_KEYS", list, func(c *Config) *[]string { return &c.Auth.PreviousSigningKeys }),
	bind("AUTH_AUDIENCE", text, func(c *Config) *string { return &c.Auth.Audience }),
	bind("AUTH_REQUIRE_MFA_FOR", list, func(c *Config) *[]string { return &c.Auth.RequireMFAFor }),
	bind("BOOTSTRAP_ADMIN_EMAIL", text, func(c *Config) *string { return &c.Auth.BootstrapAdminEmail }),
	bind("BOOTSTRAP_ADMIN_PASSWORD", text, func(c *Config) *string { return &c.Auth.BootstrapAdminPassword }),
	bind("OIDC_ISSUER", text, func(c *Config) *string { return &c.Auth.OIDC.Issuer }),
	bind("OIDC_AUDIENCE", text, func(c *Config) *string { return &c.Auth.OIDC.Audience }),
	bind("OIDC_JWKS_URL", text, func(c *Config) *string { return &c.Auth.OIDC.JWKSURL }),

	bind("LOG_FORMAT", text, func(c *Config) *string { return &c.Log.Format }),
	bind("LOG_LEVEL", text, func(c *Config) *string { return &c.Log.Level }),
	bind("RATELIMIT_ENABLED", boolean, func(c *Config) *bool { return &c.RateLimit.Enabled }),
	bind("PPROF_ADDR", text, func(c *Config) *string { return &c.Debug.PprofAddr }),

	// The standard OpenTelemetry variables.
	bind("OTEL_EXPORTER_OTLP_ENDPOINT", text, func(c *Config) *string { return &c.Tracing.OTLPEndpoint }),
	bind("OTEL_SERVICE_NAME", text, func(c *Config) *string { return &c.Tracing.ServiceName }),
	bind("OTEL_TRACES_SAMPLER", text, func(c *Config) *string { return &c.Tracing.Sampler }),
	bind("OTEL_TRACES_SAMPLER_ARG", ratio, func(c *Config) *float64 { return &c.Tracing.SampleRatio }),
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	for _, b := range envBindings {
		if v := strings.TrimSpace(getenv(b.name)); v != "" {
			if err := b.apply(cfg, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// The parsers, one per kind of setting. Their errors complete the sentence
// `"<value>" ...`.

func text(v string) (string, error) { return v, nil }

// list reads a comma list, ignoring blanks around and between entries.
func list(v string) ([]string, error) {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

func boolean(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("is not a boolean (use true or false)")
	}
	return b, nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("is not a positive duration (e.g. 5s)")
	}
	return d, nil
}

// ratio reads a number; Validate checks the 0..1 range, so a file's value
// is held to it too.
func ratio(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, errors.New("is not a number (use 0..1)")
	}
	return f, nil
}
