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

# Everything: vet, then all tests with the race detector. The integration
# suite runs on embedded SQLite always, and on Postgres + Redis when
# TEST_DATABASE_URL / TEST_REDIS_URL are set (scripts/test-env.sh sets them;
# REQUIRE_POSTGRES=1 turns a missing Postgres into a failure, as in CI).
test: vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# Short fuzz runs of every parser (each target for FUZZTIME).
FUZZTIME ?= 15s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

bench:
	bash scripts/bench.sh

seed: build
	./app seed -count 100000
