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
	if !reflect.DeepEqual(cfg.HTTP, want.HTTP) || cfg.Cache != want.Cache || cfg.Auth != want.Auth || cfg.Log != want.Log {
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
}

// Each wrong setting stops start-up with one line naming it.
func TestBadSettingsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "unknown.yaml")
	_ = os.WriteFile(unknownKey, []byte("htp:\n  addr: x\n"), 0o600)
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
		{"bad redis url", "", map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL"},
		{"bad auto migrate", "", map[string]string{"AUTO_MIGRATE": "sometimes"}, "AUTO_MIGRATE"},
		{"short signing key", "", map[string]string{"AUTH_SIGNING_KEY": "short"}, "AUTH_SIGNING_KEY"},
		{"half a bootstrap admin", "", map[string]string{"BOOTSTRAP_ADMIN_EMAIL": "a@b.c"}, "BOOTSTRAP_ADMIN"},
		{"replicas without primary", "", map[string]string{"DATABASE_REPLICA_URLS": "postgres://r/app"}, "DATABASE_REPLICA_URLS"},
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
