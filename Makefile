# The README's test command is `make test`; .ci/run calls exactly that.
GO ?= go
PKGS := ./...

.PHONY: test vet build run lint bench fuzz seed

build:
	$(GO) build -o app .

run:
	$(GO) run .

vet:
	$(GO) vet $(PKGS)

# The README's test command: scripts/test installs and starts what the
# suite needs (Postgres, Redis, NATS, replica, PgBouncer, Chromium), makes a
# fresh database, then runs vet, lint, actionlint and go test -race on both
# stores. `make test EMBEDDED=1` runs the embedded half only.
EMBEDDED ?= 0
export EMBEDDED
test:
	GO=$(GO) bash scripts/test

# Short fuzz runs of every parser (each target for FUZZTIME).
FUZZTIME ?= 15s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

# golangci-lint with .golangci.yml (govet, staticcheck, errcheck,
# ineffassign, unused, depguard). Pinned: `go run pkg@version` builds it
# once (a few minutes) into the Go build cache, then starts at once.
GOLANGCI_LINT_VERSION := v2.15.0
lint:
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run ./...

bench:
	bash scripts/bench.sh

seed: build
	./app seed -count 100000

# Known vulnerabilities in dependencies and the standard library. Needs
# https://vuln.go.dev (not reachable from the development machine, so not
# part of `make test`/CI); run it where the internet is.
.PHONY: vulncheck
vulncheck:
	$(GO) run golang.org/x/vuln/cmd/govulncheck@latest ./...
