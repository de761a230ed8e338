package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaultsWithoutFile(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != ":8080" || cfg.Database.URL != "" || cfg.Database.SQLitePath != "./data/app.db" || !cfg.Database.AutoMigrate {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func TestShippedConfigFileEqualsDefaults(t *testing.T) {
	cfg, err := Load("../../configs/config.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Database.SQLitePath = "./data/app.db"
	if !reflect.DeepEqual(cfg.HTTP, want.HTTP) || cfg.Cache != want.Cache || !reflect.DeepEqual(cfg.Auth, want.Auth) || cfg.Log != want.Log {
		t.Fatalf("configs/config.yaml drifted from Defaults():\n got %+v\nwant %+v", cfg, want)
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("http:\n  addr: \":9000\"\nlog:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, env(map[string]string{
		"HTTP_ADDR": ":7000", "DATABASE_URL": "postgres://u@db:5432/app", "DATABASE_REPLICA_URLS": "postgres://r1/app, postgres://r2/app",
		"AUTO_MIGRATE": "false", "REDIS_URL": "redis://cache:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != ":7000" || cfg.Log.Level != "debug" || cfg.Database.AutoMigrate || len(cfg.Database.ReplicaURLs) != 2 || cfg.Redis.URL == "" {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if cfg.HTTP.ReadTimeout != 15*time.Second {
		t.Fatal("unset keys must keep defaults")
	}
	cfg, err = Load(path, env(map[string]string{
		"DATABASE_URL": "postgres://u@pgb:6432/app", "DATABASE_PGBOUNCER": "true", "DATABASE_MIGRATE_URL": "postgres://u@db:5432/app",
		"DATABASE_REPLICA_MAX_LAG": "2s", "DATABASE_READ_YOUR_WRITES_WINDOW": "7s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Database; !d.PgBouncer || d.MigrateURL != "postgres://u@db:5432/app" || d.ReplicaMaxLag != 2*time.Second || d.ReadYourWritesWindow != 7*time.Second {
		t.Fatalf("replica/pooling overrides not applied: %+v", d)
	}
}

// Each wrong setting stops start-up with one line naming it.
func TestBadSettingsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "unknown.yaml")
	_ = os.WriteFile(unknownKey, []byte("htp:\n  addr: x\n"), 0o600)
	zeroRedisTimeout := filepath.Join(dir, "zero-redis-timeout.yaml")
	_ = os.WriteFile(zeroRedisTimeout, []byte("cache:\n  redis_timeout: 0s\n"), 0o600)
	for _, tc := range []struct {
		name, path string
		env        map[string]string
		setting    string
	}{
		{"bad database url", "", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
		{"database url without host", "", map[string]string{"DATABASE_URL": "postgres://"}, "DATABASE_URL"},
		{"unknown log level", "", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"unknown log format", "", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"unreadable config file", filepath.Join(dir, "missing.yaml"), nil, "config file"},
		{"unknown key in file", unknownKey, nil, "config file"},
		{"zero cache redis timeout", zeroRedisTimeout, nil, "cache.redis_timeout"},
		{"bad redis url", "", map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL"},
		{"bad auto migrate", "", map[string]string{"AUTO_MIGRATE": "sometimes"}, "AUTO_MIGRATE"},
		{"short signing key", "", map[string]string{"AUTH_SIGNING_KEY": "short"}, "AUTH_SIGNING_KEY"},
		{"half a bootstrap admin", "", map[string]string{"BOOTSTRAP_ADMIN_EMAIL": "a@b.c"}, "BOOTSTRAP_ADMIN"},
		{"replicas without primary", "", map[string]string{"DATABASE_REPLICA_URLS": "postgres://r/app"}, "DATABASE_REPLICA_URLS"},
		{"bad ratelimit enabled", "", map[string]string{"RATELIMIT_ENABLED": "maybe"}, "RATELIMIT_ENABLED"},
		{"pgbouncer without migrate url", "", map[string]string{"DATABASE_URL": "postgres://u@pgb:6432/app", "DATABASE_PGBOUNCER": "true"}, "DATABASE_MIGRATE_URL"},
		{"bad pgbouncer flag", "", map[string]string{"DATABASE_PGBOUNCER": "maybe"}, "DATABASE_PGBOUNCER"},
		{"bad migrate url", "", map[string]string{"DATABASE_MIGRATE_URL": "mysql://x"}, "DATABASE_MIGRATE_URL"},
		{"bad replica max lag", "", map[string]string{"DATABASE_REPLICA_MAX_LAG": "soon"}, "DATABASE_REPLICA_MAX_LAG"},
		{"bad read-your-writes window", "", map[string]string{"DATABASE_READ_YOUR_WRITES_WINDOW": "-1s"}, "DATABASE_READ_YOUR_WRITES_WINDOW"},
		{"pprof on all interfaces", "", map[string]string{"PPROF_ADDR": "0.0.0.0:6060"}, "PPROF_ADDR"},
		{"pprof without host", "", map[string]string{"PPROF_ADDR": ":6060"}, "PPROF_ADDR"},
		{"pprof on a remote host", "", map[string]string{"PPROF_ADDR": "example.com:6060"}, "PPROF_ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(dir)
			_, err := Load(tc.path, env(tc.env))
			if err == nil {
				t.Fatal("expected an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.setting) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q should be one line naming %s", msg, tc.setting)
			}
		})
	}
}

// Rate limit groups need a positive limit and a window of whole seconds
// (the RateLimit-Policy w parameter is an integer); RATELIMIT_ENABLED
// switches limiting off.
func TestRateLimitSettings(t *testing.T) {
	cfg, err := Load("", env(map[string]string{"RATELIMIT_ENABLED": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimit.Enabled || cfg.RateLimit.Groups.Auth.Limit != 10 {
		t.Fatalf("RATELIMIT_ENABLED=false not applied or defaults lost: %+v", cfg.RateLimit)
	}
	for _, tc := range []struct{ yaml, setting string }{
		{"ratelimit:\n  groups:\n    auth: {limit: 0, window: 60s}\n", "ratelimit.groups.auth.limit"},
		{"ratelimit:\n  groups:\n    catalogue: {limit: 5, window: 500ms}\n", "ratelimit.groups.catalogue.window"},
		{"ratelimit:\n  groups:\n    default: {limit: 5, window: 1500ms}\n", "ratelimit.groups.default.window"},
		{"ratelimit:\n  redis_timeout: 0s\n", "ratelimit.redis_timeout"},
		{"ratelimit:\n  groups:\n    search: {limit: 5, window: 1s}\n", "config file"},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.setting) {
				t.Fatalf("error %v, want one naming %s", err, tc.setting)
			}
		})
	}
}

func TestAuthLifecycleSettings(t *testing.T) {
	cfg, err := Load("", env(map[string]string{
		"AUTH_PREVIOUS_SIGNING_KEYS": " old-key-old-key-old-key-old-key-01 ,, old-key-old-key-old-key-old-key-02",
		"AUTH_REQUIRE_MFA_FOR":       "admin.flags,admin.users", "AUTH_AUDIENCE": "shop",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Auth.PreviousSigningKeys, []string{"old-key-old-key-old-key-old-key-01", "old-key-old-key-old-key-old-key-02"}) ||
		!reflect.DeepEqual(cfg.Auth.RequireMFAFor, []string{"admin.flags", "admin.users"}) || cfg.Auth.Audience != "shop" {
		t.Fatalf("auth settings: %+v", cfg.Auth)
	}
	if cfg.Auth.RefreshTokenTTL != 720*time.Hour {
		t.Fatalf("refresh TTL default %v", cfg.Auth.RefreshTokenTTL)
	}
	if _, err := Load("", env(map[string]string{"AUTH_PREVIOUS_SIGNING_KEYS": "short"})); err == nil || !strings.Contains(err.Error(), "AUTH_PREVIOUS_SIGNING_KEYS") {
		t.Fatalf("short previous key: %v", err)
	}
}

func TestPprofAddrLoopbackAccepted(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:0"} {
		cfg, err := Load("", env(map[string]string{"PPROF_ADDR": addr}))
		if err != nil || cfg.Debug.PprofAddr != addr {
			t.Errorf("PPROF_ADDR=%s: %v (got %q)", addr, err, cfg.Debug.PprofAddr)
		}
	}
}
