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

# The integration suite runs on embedded SQLite always, and on Postgres +
# Redis at these addresses (each Postgres test creates and drops its own
# database). REQUIRE_POSTGRES=1 turns a missing Postgres into a failure
# instead of a skip. SQLite only: make test TEST_DATABASE_URL= TEST_REDIS_URL= REQUIRE_POSTGRES=0
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_NATS_URL ?= nats://127.0.0.1:4222
REQUIRE_POSTGRES ?= 1
REQUIRE_NATS ?= 1
export TEST_DATABASE_URL TEST_REDIS_URL TEST_NATS_URL REQUIRE_POSTGRES REQUIRE_NATS
# The streaming replica (scripts/pg-replica up) and PgBouncer (scripts/pgbouncer
# up): their tests skip when these do not answer, unless REQUIRE_REPLICA=1 (CI).
TEST_REPLICA_URL ?= postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable
TEST_PGBOUNCER_URL ?= postgres://postgres@127.0.0.1:6432/postgres?sslmode=disable
REQUIRE_REPLICA ?= 0
export TEST_REPLICA_URL TEST_PGBOUNCER_URL REQUIRE_REPLICA

# Everything: vet, then all tests with the race detector.
test: vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

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
