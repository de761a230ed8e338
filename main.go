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
	"os"
	"os/signal"
	"syscall"

	"example.com/productapi/modules/app"
)

func main() {
	app.SetProcessGlobals()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			// One clear line, never a stack trace.
			fmt.Fprintln(os.Stderr, "app:", err)
		}
		os.Exit(1)
	}
}
