#!/usr/bin/env bash
# Checkout load test on Postgres: 32 concurrent clients placing single-line
# orders through HTTP, on distinct products vs one hot product. Writes the
# result table into docs/benchmarks-orders.md.
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable scripts/orders-load.sh [orders-per-scenario]
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export TEST_DATABASE_URL ORDERS_LOAD=1 ORDERS_LOAD_N="${1:-2000}"
table=$(mktemp)
ORDERS_LOAD_OUT="$table" go test -count=1 -run '^TestOrdersCheckoutLoad$' -v ./modules/app/ | grep -E '^(---|ok|FAIL)' || true
test -s "$table" || { echo "load test produced no result" >&2; exit 1; }
{
  echo "# Checkout benchmark (orders)"
  echo
  echo "Produced by \`scripts/orders-load.sh\` ($(date -u +%Y-%m-%d), $(nproc) CPUs, $(go env GOVERSION), Postgres $(psql "$TEST_DATABASE_URL" -Atc 'show server_version' 2>/dev/null || echo '?'))."
  echo "POST /v1/orders through the full stack (HTTP client and server in one process, auth, idempotency claim,"
  echo "stock reservation, order + items insert, outbox append; the simulated payment provider pays orders"
  echo "in the background). 32 concurrent clients, one line per order, ${ORDERS_LOAD_N} orders per scenario."
  echo
  cat "$table"
  echo
  echo "- **distinct**: each client orders its own product, so stock updates never wait on each other."
  echo "- **hot**: every client orders the same product; the conditional \`UPDATE products SET stock = stock - 1\`"
  echo "  takes that row's lock until the checkout transaction commits, so checkouts of one product are serialised"
  echo "  (that is what makes overselling impossible). The gap between the two rows is the price of that lock."
} > docs/benchmarks-orders.md
rm -f "$table"
cat docs/benchmarks-orders.md
