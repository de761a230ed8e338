// Command app is the product API: one binary serving the users, products
// and orders modules, plus its operational commands.
//
//	app [-config file] [serve]          run the HTTP service (default)
//	app migrate up|down [-steps N]|version
//	app seed [-count N] [-batch N]      demo catalogue, with progress
//	app users create-admin -email E -password P
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"example.com/productapi/platform/cache"
	"example.com/productapi/platform/config"
)

// setProcessGlobals configures the libraries that keep process-wide state:
// gin's debug route dump and go-redis's unstructured logger are noise next
// to the structured access log.
func setProcessGlobals() {
	gin.SetMode(gin.ReleaseMode)
	redis.SetLogger(cache.RedisLogger{})
}

func main() {
	setProcessGlobals()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			// One clear line, never a stack trace.
			fmt.Fprintln(os.Stderr, "app:", err)
		}
		os.Exit(1)
	}
}

// run is main without process globals, so tests can drive every command.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
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
