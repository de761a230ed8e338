package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"

	"example.com/productapi/platform/cache"
	"example.com/productapi/platform/config"
	"example.com/productapi/platform/db"
	"example.com/productapi/platform/observability"
	"example.com/productapi/platform/server"
	"example.com/productapi/platform/tlsreload"
)

// serve runs the service until ctx is cancelled. onListen (tests) learns
// the bound address.
func serve(ctx context.Context, cfg config.Config, stdout io.Writer, onListen func(addr string)) error {
	log := observability.NewLogger(cfg.Log, stdout)
	slog.SetDefault(log)
	// The certificate first: a bad pair stops start-up before any pool opens.
	var certs *tlsreload.Reloader
	if cfg.HTTP.TLS() {
		var err error
		if certs, err = tlsreload.New(cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile, log.With("component", "tls")); err != nil {
			return &config.Error{Setting: "HTTP_TLS_CERT_FILE/HTTP_TLS_KEY_FILE", Problem: err.Error()}
		}
		go certs.Run(ctx, cfg.HTTP.TLSReloadInterval)
	}
	app, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return &config.Error{Setting: "HTTP_ADDR", Problem: "cannot listen: " + err.Error()}
	}
	if onListen != nil {
		onListen(ln.Addr().String())
	}
	if cfg.Debug.PprofAddr != "" {
		if _, err := server.StartPprof(ctx, cfg.Debug.PprofAddr, log); err != nil {
			return &config.Error{Setting: "PPROF_ADDR", Problem: "cannot listen: " + err.Error()}
		}
	}
	srv := server.New(cfg.HTTP, app.router, log)
	if certs != nil {
		server.UseTLS(srv, certs.GetCertificate)
	}
	return server.ServeDrain(ctx, srv, ln, &app.ready, server.Drain{Delay: cfg.HTTP.ShutdownDelay, Timeout: cfg.HTTP.ShutdownTimeout}, log)
}

func migrateCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("migrate needs a subcommand: up, down or version")
	}
	fs := flag.NewFlagSet("migrate "+args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	steps := fs.Int("steps", 0, "migrations to revert per module (down; 0 = all)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	log := observability.NewLogger(cfg.Log, stdout)
	d, err := db.Open(ctx, cfg.Database, log)
	if err != nil {
		return err
	}
	defer d.Close()
	m := newMigrator(d, log)
	switch args[0] {
	case "up":
		fmt.Fprintln(stdout, "applying migrations...")
		if err := m.Up(); err != nil {
			return err
		}
	case "down":
		fmt.Fprintln(stdout, "reverting migrations...")
		if err := m.Down(*steps); err != nil {
			return err
		}
	case "version":
	default:
		return fmt.Errorf("unknown migrate subcommand %q (use up, down or version)", args[0])
	}
	st, err := m.Status()
	if err != nil {
		return err
	}
	for _, s := range st {
		fmt.Fprintf(stdout, "%-10s version %d of %d dirty=%v\n", s.Module, s.Version, s.Latest, s.Dirty)
	}
	return nil
}

func seedCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stdout)
	count := fs.Int("count", 1000, "products to insert")
	batch := fs.Int("batch", 1000, "rows per INSERT")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *count < 1 || *batch < 1 {
		return fmt.Errorf("seed: -count and -batch must be positive")
	}
	app, err := New(ctx, cfg, observability.NewLogger(cfg.Log, io.Discard))
	if err != nil {
		return err
	}
	defer app.Close()
	bar := progressbar.NewOptions(*count, progressbar.OptionSetWriter(stdout), progressbar.OptionSetDescription("seeding products"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(stdout) }))
	start := time.Now()
	last := 0
	err = app.products.Seeder().Seed(ctx, *count, *batch, func(done int) {
		_ = bar.Add(done - last)
		last = done
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d products in %s\n", *count, time.Since(start).Round(time.Millisecond))
	return nil
}

func usersCmd(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create-admin" {
		return fmt.Errorf("usage: app users create-admin -email E -password P")
	}
	fs := flag.NewFlagSet("users create-admin", flag.ContinueOnError)
	fs.SetOutput(stdout)
	email := fs.String("email", "", "admin email")
	password := fs.String("password", "", "admin password (>= 8 characters)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" || len(*password) < 8 {
		return fmt.Errorf("users create-admin: -email and a -password of at least 8 characters are required")
	}
	app, err := New(ctx, cfg, observability.NewLogger(cfg.Log, io.Discard))
	if err != nil {
		return err
	}
	defer app.Close()
	u, created, err := app.users.Accounts().EnsureAdmin(ctx, *email, *password)
	if err != nil {
		return err
	}
	verb := "promoted existing user"
	if created {
		verb = "created admin"
	}
	fmt.Fprintf(stdout, "%s %s (id %s)\n", verb, u.Email, u.ID)
	return nil
}

// SetProcessGlobals configures the libraries that keep process-wide state:
// gin's debug route dump and go-redis's unstructured logger are noise next
// to the structured access log.
func SetProcessGlobals() {
	gin.SetMode(gin.ReleaseMode)
	redis.SetLogger(cache.RedisLogger{})
}

// Run is the command line without process globals (main sets them), so
// tests can drive every command.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	global := flag.NewFlagSet("app", flag.ContinueOnError)
	global.SetOutput(stdout)
	configPath := global.String("config", "", "config file (default "+config.DefaultPath+" if present, or CONFIG_FILE)")
	global.Usage = func() { fmt.Fprint(stdout, usage) }
	if err := global.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*configPath, getenv)
	if err != nil {
		return err
	}
	rest := global.Args()
	cmd := "serve"
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, stdout, nil)
	case "migrate":
		return migrateCmd(ctx, cfg, rest, stdout)
	case "seed":
		return seedCmd(ctx, cfg, rest, stdout)
	case "users":
		return usersCmd(ctx, cfg, rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (try: serve, migrate, seed, users, help)", cmd)
}

const usage = `usage: app [-config file] <command>

commands:
  serve                                  run the HTTP service (default)
  migrate up                             apply pending migrations
  migrate down [-steps N]                revert N migrations per module (default: all)
  migrate version                        show each module's migration version
  seed [-count N] [-batch N]             insert N demo products (default 1000)
  users create-admin -email E -password P  create or promote an admin

configuration: configs/config.yaml, overridden by environment variables
(DATABASE_URL, REDIS_URL, HTTP_ADDR, LOG_LEVEL, ...; see README).
`
