#!/usr/bin/env bash
# Drives the service past capacity and shows what the adaptive concurrency
# limit does: searches (sheddable) are refused with 503 + Retry-After while
# single-product reads (critical) keep being served.
#
#   bash scripts/overload.sh      (embedded SQLite; DURATION=15s, SEARCH_CONNECTIONS=256)
#
# Reports, for each class, requests served, non-2xx answers and latency,
# plus the limiter's own gauges from /metrics at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
SEARCH_CONNECTIONS=${SEARCH_CONNECTIONS:-256}
READ_CONNECTIONS=${READ_CONNECTIONS:-8}
PORT=${PORT:-18190}
WORK=$(mktemp -d)
command -v wrk >/dev/null || { echo "installing wrk"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

cleanup() { [ -n "${APP_PID:-}" ] && kill "$APP_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

echo "== build"
go build -o "$WORK/app" .
export DATA_DIR="$WORK/data" HTTP_ADDR="127.0.0.1:$PORT" LOG_LEVEL=error
echo "== seed 20000 products"
"$WORK/app" seed -count 20000 | tail -1
"$WORK/app" >"$WORK/app.log" 2>&1 &
APP_PID=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
ID=$(curl -s "http://127.0.0.1:$PORT/v1/products?fields=id&limit=1" | sed -E 's/.*"id":"([^"]+)".*/\1/')

# Every search is distinct (no list cache hit): real database work.
cat >"$WORK/search.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/products?q=" .. string.char(97 + n % 26) .. "&min_price_cents=" .. (n % 5000))
end
LUA

echo "== overload: $SEARCH_CONNECTIONS connections searching, $READ_CONNECTIONS reading one product, $DURATION"
wrk -t 1 -c "$SEARCH_CONNECTIONS" -d "$DURATION" -s "$WORK/search.lua" "http://127.0.0.1:$PORT" >"$WORK/search.txt" &
SEARCH=$!
wrk -t 1 -c "$READ_CONNECTIONS" -d "$DURATION" --latency "http://127.0.0.1:$PORT/v1/products/$ID" >"$WORK/read.txt"
wait "$SEARCH"

summary() { # file label
  local total non2xx
  total=$(awk '/requests in/ {print $1}' "$1")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$1"); non2xx=${non2xx:-0}
  printf '%-22s %8s requests, %8s non-2xx (%s%%), latency avg %s\n' "$2" "$total" "$non2xx" \
    "$(awk -v a="$non2xx" -v b="$total" 'BEGIN { if (b > 0) printf "%.1f", 100*a/b; else print 0 }')" \
    "$(awk '/Latency/ {print $2; exit}' "$1")"
}
echo
summary "$WORK/search.txt" "search (sheddable)"
summary "$WORK/read.txt" "single read (critical)"
echo
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^(concurrency_limit|requests_shed_total)'
