package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Validate checks every setting a typo could break and returns the first
// problem, one line naming the setting (the variable and, where both
// exist, the file key). Each section of Config checks its own settings.
func (c Config) Validate() error {
	return firstProblem(
		c.Log.validate(),
		c.Database.validate(),
		c.Cache.validate(),
		c.Redis.validate(),
		c.NATS.validate(),
		c.Payment.validate(),
		c.Auth.validate(),
		c.HTTP.validate(),
		c.Debug.validate(),
		c.RateLimit.validate(),
		c.Tracing.validate(),
	)
}

func (l Log) validate() error {
	_, levelErr := ParseLevel(l.Level)
	format := strings.ToLower(l.Format)
	return firstProblem(
		problemIf(format != "json" && format != "text", "LOG_FORMAT (log.format)", fmt.Sprintf("unknown format %q (use json or text)", l.Format)),
		settingError("LOG_LEVEL (log.level)", levelErr),
	)
}

var postgresSchemes = []string{"postgres", "postgresql"}

func (d Database) validate() error {
	replicas := len(d.ReplicaURLs) > 0
	return firstProblem(
		urlSetting("DATABASE_URL", d.URL, postgresSchemes...),
		urlSettings("DATABASE_REPLICA_URLS", d.ReplicaURLs, postgresSchemes...),
		urlSetting("DATABASE_MIGRATE_URL", d.MigrateURL, postgresSchemes...),
		problemIf(d.PgBouncer && d.URL != "" && d.MigrateURL == "", "DATABASE_MIGRATE_URL",
			"required with DATABASE_PGBOUNCER=true: migrations hold a session advisory lock, which transaction pooling cannot keep; point it at Postgres directly"),
		problemIf(replicas && (d.ReplicaMaxLag <= 0 || d.ReplicaCheckInterval <= 0 || d.ReadYourWritesWindow <= 0),
			"database.replica_max_lag/replica_check_interval/read_your_writes_window", "must be positive"),
		problemIf(replicas && d.URL == "", "DATABASE_REPLICA_URLS", "replicas need DATABASE_URL (the embedded store has no replicas)"),
		positive("database.max_open_conns", d.MaxOpenConns),
	)
}

func (c Cache) validate() error {
	return firstProblem(
		problemIf(c.Namespace == "", "cache.namespace", "must not be empty"),
		positive("cache.l1_max_entries", c.L1MaxEntries),
		positive("cache.redis_timeout", c.RedisTimeout),
	)
}

func (r Redis) validate() error { return urlSetting("REDIS_URL", r.URL, "redis", "rediss") }

func (n NATS) validate() error { return urlSetting("NATS_URL", n.URL, "nats", "tls") }

func (p Payment) validate() error {
	return urlSetting("PAYMENT_PROVIDER_URL", p.ProviderURL, "http", "https")
}

func (a Auth) validate() error {
	shortKey := func(k string) bool { return len(k) < 32 }
	return firstProblem(
		problemIf((a.BootstrapAdminEmail == "") != (a.BootstrapAdminPassword == ""), "BOOTSTRAP_ADMIN_EMAIL/BOOTSTRAP_ADMIN_PASSWORD", "set both or neither"),
		problemIf(a.BootstrapAdminPassword != "" && len(a.BootstrapAdminPassword) < 8, "BOOTSTRAP_ADMIN_PASSWORD", "must be at least 8 characters"),
		problemIf(a.SigningKey != "" && shortKey(a.SigningKey), "AUTH_SIGNING_KEY", "must be at least 32 characters"),
		problemIf(slices.ContainsFunc(a.PreviousSigningKeys, shortKey), "AUTH_PREVIOUS_SIGNING_KEYS", "every key must be at least 32 characters"),
		positive("auth.refresh_token_ttl", a.RefreshTokenTTL),
		problemIf(a.Audience == "", "AUTH_AUDIENCE", "must not be empty"),
		positive("auth.access_token_ttl", a.AccessTokenTTL),
		a.OIDC.validate(),
	)
}

func (h HTTP) validate() error {
	return firstProblem(
		positive("http.max_body_bytes", h.MaxBodyBytes),
		problemIf(h.ShutdownDelay < 0, "http.shutdown_delay", "must not be negative"),
		problemIf(h.MaxHeaderBytes < 4096, "http.max_header_bytes", "must be at least 4096"),
		h.validateTLS(),
		h.CORS.validate(),
	)
}

func (d Debug) validate() error {
	if d.PprofAddr == "" {
		return nil
	}
	return settingError("PPROF_ADDR (debug.pprof_addr)", checkLoopback(d.PprofAddr))
}

func (r RateLimit) validate() error {
	checks := []error{
		positive("ratelimit.redis_timeout", r.RedisTimeout),
		positive("ratelimit.instance_heartbeat", r.InstanceHeartbeat),
	}
	for _, g := range []struct {
		name string
		g    RateLimitGroup
	}{{"auth", r.Groups.Auth}, {"catalogue", r.Groups.Catalogue}, {"default", r.Groups.Default}, {"console", r.Groups.Console}} {
		setting := "ratelimit.groups." + g.name
		checks = append(checks,
			positive(setting+".limit", g.g.Limit),
			// The RateLimit-Policy w parameter is an integer.
			problemIf(g.g.Window < time.Second || g.g.Window%time.Second != 0, setting+".window",
				fmt.Sprintf("must be a whole number of seconds >= 1s (got %s)", g.g.Window)))
	}
	return firstProblem(checks...)
}

func (t Tracing) validate() error {
	return firstProblem(
		urlSetting("OTEL_EXPORTER_OTLP_ENDPOINT (tracing.otlp_endpoint)", t.OTLPEndpoint, "http", "https"),
		problemIf(strings.TrimSpace(t.ServiceName) == "", "OTEL_SERVICE_NAME (tracing.service_name)", "must not be empty"),
		problemIf(!slices.Contains(TraceSamplers, t.Sampler), "OTEL_TRACES_SAMPLER (tracing.sampler)",
			fmt.Sprintf("unknown sampler %q (use %s)", t.Sampler, strings.Join(TraceSamplers, ", "))),
		// Written so that NaN fails too.
		problemIf(!(t.SampleRatio >= 0 && t.SampleRatio <= 1), "OTEL_TRACES_SAMPLER_ARG (tracing.sample_ratio)", fmt.Sprintf("%v is outside 0..1", t.SampleRatio)),
	)
}

// The building blocks. Checks are cheap, so a section evaluates all of its
// own and reports the first failing one in the order listed.

func firstProblem(checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// problemIf is the setting's problem when bad holds, else nil.
func problemIf(bad bool, setting, problem string) error {
	if !bad {
		return nil
	}
	return &Error{Setting: setting, Problem: problem}
}

func positive[T int | int64 | time.Duration](setting string, v T) error {
	return problemIf(v <= 0, setting, "must be positive")
}

// settingError names the setting that err (when not nil) is about.
func settingError(setting string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Setting: setting, Problem: err.Error()}
}

// urlSetting checks an optional URL setting ("" = unset).
func urlSetting(setting, raw string, schemes ...string) error {
	if raw == "" {
		return nil
	}
	return settingError(setting, checkURL(raw, schemes...))
}

func urlSettings(setting string, raws []string, schemes ...string) error {
	for _, raw := range raws {
		if err := urlSetting(setting, raw, schemes...); err != nil {
			return err
		}
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
