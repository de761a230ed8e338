package app

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"example.com/productapi/platform/config"
	"example.com/productapi/platform/testkit"
)

// getenvFor builds an environment for run(); the test's config file is used.
func getenvFor(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestBadSettingStopsStartupWithOneLine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		setting string
	}{
		{"unreachable database", map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"}, nil, "DATABASE_URL"},
		{"malformed database url", map[string]string{"DATABASE_URL": "mysql://x/y"}, nil, "DATABASE_URL"},
		{"unknown log level", map[string]string{"LOG_LEVEL": "chatty"}, nil, "LOG_LEVEL"},
		{"unreadable config file", nil, []string{"-config", "/nonexistent/config.yaml"}, "config file"},
		{"unknown command", nil, []string{"fly"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"DATA_DIR": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			var out bytes.Buffer
			err := Run(context.Background(), tc.args, getenvFor(env), &out)
			if err == nil {
				t.Fatal("expected start-up to fail")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.setting) || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") {
				t.Fatalf("want one line naming %q, got %q", tc.setting, msg)
			}
		})
	}
}

func TestCommandsOnEachStore(t *testing.T) {
	eachStore(t, func(t *testing.T, kind storeKind) {
		cfg := testConfig(t, kind)
		env := map[string]string{"DATA_DIR": cfg.DataDir, "DATABASE_URL": cfg.Database.URL, "LOG_LEVEL": "warn",
			"AUTH_SIGNING_KEY": cfg.Auth.SigningKey}
		runCmd := func(args ...string) string {
			t.Helper()
			var out bytes.Buffer
			if err := Run(context.Background(), args, getenvFor(env), &out); err != nil {
				t.Fatalf("app %v: %v\n%s", args, err, out.String())
			}
			return out.String()
		}
		// Every module at its latest version after up, at 0 after down.
		atLatest := regexp.MustCompile(`(?m)^(users|products) +version ([1-9][0-9]*) of ([0-9]+) dirty=false$`)
		if out := runCmd("migrate", "up"); !allAtLatest(atLatest.FindAllStringSubmatch(out, -1), 2) {
			t.Fatalf("migrate up: %s", out)
		}
		if out := runCmd("seed", "-count", "250", "-batch", "100"); !strings.Contains(out, "seeded 250 products") {
			t.Fatalf("seed: %s", out)
		}
		if out := runCmd("users", "create-admin", "-email", "ops@example.com", "-password", "ops-password-1"); !strings.Contains(out, "created admin ops@example.com") {
			t.Fatalf("create-admin: %s", out)
		}
		// Running it again promotes/resets instead of failing.
		if out := runCmd("users", "create-admin", "-email", "ops@example.com", "-password", "ops-password-2"); !strings.Contains(out, "promoted existing user") {
			t.Fatalf("create-admin again: %s", out)
		}
		s := startServer(t, cfg)
		s.login("ops@example.com", "ops-password-2")
		page := s.do("GET", "/v1/products?limit=100", "", nil)
		expect(t, page, 200)
		if n := len(page.JSON(t)["data"].([]any)); n != 100 {
			t.Fatalf("seeded catalogue page has %d items", n)
		}
		if out := runCmd("migrate", "down"); !regexp.MustCompile(`(?m)^products +version 0 of [1-9]`).MatchString(out) {
			t.Fatalf("migrate down: %s", out)
		}
		if out := runCmd("migrate", "version"); !regexp.MustCompile(`(?m)^users +version 0 of [1-9]`).MatchString(out) {
			t.Fatalf("migrate version: %s", out)
		}
	})
}

// The binary serves with no configuration at all and drains on shutdown:
// readiness flips to 503, then the server stops.
func TestServeWithNoConfigurationAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // no configs/config.yaml here: pure defaults
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	cfgEnv := getenvFor(map[string]string{"HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn"})
	go func() {
		cfg, err := config.Load("", cfgEnv)
		if err != nil {
			done <- err
			return
		}
		done <- serve(ctx, cfg, &bytes.Buffer{}, func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	// onListen runs just before the server marks itself ready: poll.
	testkit.Eventually(t, 10*time.Second, "readyz 200", func() bool {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	if _, err := os.Stat(dir + "/data/app.db"); err != nil {
		t.Fatalf("embedded store not created under ./data: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("shutdown hung")
	}
}

// allAtLatest reports whether want modules matched and each is at its latest version.
func allAtLatest(matches [][]string, want int) bool {
	if len(matches) != want {
		return false
	}
	for _, m := range matches {
		if m[2] != m[3] {
			return false
		}
	}
	return true
}
