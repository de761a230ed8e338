# Shared by cluster-up, cluster-down, rolling-restart and chaos. Sourced, not run.
# Everything lives on loopback; state (binary, config, logs, pid files) under $CLUSTER_STATE.
CLUSTER_STATE=${CLUSTER_STATE:-/tmp/productapi-cluster}
CLUSTER_BIN=${CLUSTER_BIN:-$CLUSTER_STATE/app}
CLUSTER_DB=${CLUSTER_DB:-productapi_cluster}
CLUSTER_PG=${CLUSTER_PG:-postgres://postgres@127.0.0.1:5432}
CLUSTER_LB_PORT=${CLUSTER_LB_PORT:-18080}
# The load balancer cluster-up starts: haproxy (default: active GET /readyz
# checks; stats page on CLUSTER_LB_STATS_PORT) or nginx (passive checks only:
# it keeps sending to a draining instance until its listener closes).
CLUSTER_LB=${CLUSTER_LB:-haproxy}
CLUSTER_LB_STATS_PORT=${CLUSTER_LB_STATS_PORT:-18404}
# HAProxy's HTTPS frontend (TLS terminated there, HTTP/2 by ALPN) and its PEM
# (certificate chain, then key); cluster-up makes a self-signed localhost one
# when the file does not exist.
CLUSTER_LB_TLS_PORT=${CLUSTER_LB_TLS_PORT:-18443}
CLUSTER_TLS_PEM=${CLUSTER_TLS_PEM:-$CLUSTER_STATE/tls.pem}
CLUSTER_PORTS=(18081 18082 18083)
# 1 (default): the cluster gets its own Redis (16379) and NATS (14222), so
# chaos can restart them without disturbing anybody else's tests on 6379/4222.
CLUSTER_OWN_DEPS=${CLUSTER_OWN_DEPS:-1}
if [[ $CLUSTER_OWN_DEPS == 1 ]]; then
  CLUSTER_REDIS_PORT=16379 CLUSTER_NATS_PORT=14222
else
  CLUSTER_REDIS_PORT=6379 CLUSTER_NATS_PORT=4222
fi
CLUSTER_REDIS_URL=redis://127.0.0.1:$CLUSTER_REDIS_PORT/3
CLUSTER_NATS_URL=nats://127.0.0.1:$CLUSTER_NATS_PORT
CLUSTER_ADMIN_EMAIL=${CLUSTER_ADMIN_EMAIL:-admin@cluster.local}
CLUSTER_ADMIN_PASSWORD=${CLUSTER_ADMIN_PASSWORD:-cluster-admin-password}
# Shared by every instance: a token minted by one is accepted by the others.
CLUSTER_SIGNING_KEY=${CLUSTER_SIGNING_KEY:-cluster-signing-key-0123456789abcdef-local-only}
PG_REPLICA_SCRIPT=${PG_REPLICA_SCRIPT:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pg-replica}

clog() { printf '[cluster] %s\n' "$*" >&2; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The environment of instance i (1..3).
instance_env() {
  local i=$1 port=${CLUSTER_PORTS[$(($1 - 1))]}
  local env=(
    CONFIG_FILE="$CLUSTER_STATE/config.yaml"
    HTTP_ADDR="127.0.0.1:$port"
    DATA_DIR="$CLUSTER_STATE/inst$i"
    PPROF_ADDR="127.0.0.1:$((16060 + i))"
    DATABASE_URL="$CLUSTER_PG/$CLUSTER_DB?sslmode=disable"
    REDIS_URL="$CLUSTER_REDIS_URL"
    NATS_URL="$CLUSTER_NATS_URL"
    CACHE_NAMESPACE=cluster
    AUTH_SIGNING_KEY="$CLUSTER_SIGNING_KEY"
    BOOTSTRAP_ADMIN_EMAIL="$CLUSTER_ADMIN_EMAIL"
    BOOTSTRAP_ADMIN_PASSWORD="$CLUSTER_ADMIN_PASSWORD"
    LOG_FORMAT=json LOG_LEVEL=warn AUTO_MIGRATE=false
    # The load generator is one client on one IP: per-caller limits would
    # turn its logins into 429s. CLUSTER_RATELIMIT=true keeps them on.
    RATELIMIT_ENABLED="${CLUSTER_RATELIMIT:-false}"
  )
  [[ -f $CLUSTER_STATE/replica_urls ]] && env+=(DATABASE_REPLICA_URLS="$(cat "$CLUSTER_STATE/replica_urls")")
  printf '%s\n' "${env[@]}"
}

start_instance() {
  local i=$1
  mkdir -p "$CLUSTER_STATE/inst$i"
  if pid_alive "$CLUSTER_STATE/inst$i.pid"; then clog "instance $i already running"; return; fi
  mapfile -t envs < <(instance_env "$i")
  setsid env "${envs[@]}" "$CLUSTER_BIN" serve >>"$CLUSTER_STATE/inst$i.log" 2>&1 < /dev/null &
  echo $! >"$CLUSTER_STATE/inst$i.pid"
}

# wait_ready i [seconds]: until GET /readyz answers 200.
wait_ready() {
  local i=$1 port=${CLUSTER_PORTS[$(($1 - 1))]} deadline=$((SECONDS + ${2:-60}))
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do
    if ! pid_alive "$CLUSTER_STATE/inst$i.pid"; then clog "instance $i exited; tail of its log:"; tail -5 "$CLUSTER_STATE/inst$i.log" >&2; return 1; fi
    ((SECONDS < deadline)) || { clog "instance $i not ready after ${2:-60}s"; return 1; }
    sleep 0.2
  done
}

# stop_pid file [signal] [seconds]: signal the process and wait for it to exit.
stop_pid() {
  local f=$1 sig=${2:-TERM} wait=${3:-30} pid
  pid=$(cat "$f" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + wait))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { clog "pid $pid still alive after ${wait}s: SIGKILL"; kill -9 "$pid" 2>/dev/null || true; }
  fi
  rm -f "$f"
}

start_redis() {
  [[ $CLUSTER_OWN_DEPS == 1 ]] || return 0
  pid_alive "$CLUSTER_STATE/redis.pid" && return 0
  redis-server --bind 127.0.0.1 --port "$CLUSTER_REDIS_PORT" --save "" --appendonly no --daemonize yes \
    --dir "$CLUSTER_STATE" --pidfile "$CLUSTER_STATE/redis.pid" --logfile "$CLUSTER_STATE/redis.log" >/dev/null
  for _ in $(seq 1 50); do redis-cli -p "$CLUSTER_REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
  clog "redis on $CLUSTER_REDIS_PORT did not start"; return 1
}

start_nats() {
  [[ $CLUSTER_OWN_DEPS == 1 ]] || return 0
  pid_alive "$CLUSTER_STATE/nats.pid" && return 0
  mkdir -p "$CLUSTER_STATE/nats"
  setsid nats-server -a 127.0.0.1 -p "$CLUSTER_NATS_PORT" -js -sd "$CLUSTER_STATE/nats" \
    -l "$CLUSTER_STATE/nats.log" >/dev/null 2>&1 < /dev/null &
  echo $! >"$CLUSTER_STATE/nats.pid"
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$CLUSTER_NATS_PORT) 2>/dev/null && return 0; sleep 0.1; done
  clog "nats on $CLUSTER_NATS_PORT did not start"; return 1
}

# lb_running: prints the kind of load balancer that runs now (nginx or
# haproxy, from the pid files); fails when none does.
lb_running() {
  if pid_alive "$CLUSTER_STATE/haproxy.pid"; then echo haproxy
  elif pid_alive "$CLUSTER_STATE/nginx.pid"; then echo nginx
  else return 1; fi
}

# haproxy_stats: the stats CSV (one line per proxy/server, header "# pxname,svname,...").
haproxy_stats() { curl -fsS "http://127.0.0.1:$CLUSTER_LB_STATS_PORT/;csv;norefresh"; }

# haproxy_status i: what HAProxy thinks of instance i (server productapi/app<i>):
# UP, DOWN, "DOWN 1/2" (coming up), "UP 1/1" (going down), MAINT, ...
haproxy_status() {
  haproxy_stats 2>/dev/null | awk -F, -v sv="app$1" '
    NR == 1 { for (c = 1; c <= NF; c++) col[$c] = c; next }
    $1 == "productapi" && $2 == sv { print $col["status"]; found = 1 }
    END { exit !found }'
}

# haproxy_cli cmd...: one command on the admin socket (needs socat; silent without it).
haproxy_cli() {
  command -v socat >/dev/null && [[ -S $CLUSTER_STATE/haproxy.sock ]] || return 0
  echo "$*" | socat -t 2 stdio "unix-connect:$CLUSTER_STATE/haproxy.sock"
}

# lb_wait_up i [seconds]: until the load balancer routes to instance i again.
# HAProxy: until its /readyz check passed "rise" times (status UP). nginx has
# no such state (passive checks: it just tries the server), nothing to wait for.
lb_wait_up() {
  local i=$1 deadline=$((SECONDS + ${2:-30})) st=""
  [[ $(lb_running) == haproxy ]] || return 0
  until st=$(haproxy_status "$i") && [[ $st == UP ]]; do
    ((SECONDS < deadline)) || { clog "haproxy still reports app$i as '${st:-?}' after ${2:-30}s"; return 1; }
    sleep 0.1
  done
}

# haproxy_watch_down i [seconds]: (run in the background right before the
# SIGTERM) logs how long HAProxy took to take instance i out of rotation.
haproxy_watch_down() {
  local i=$1 t0 st="" deadline=$((SECONDS + ${2:-15}))
  t0=$(date +%s%3N)
  until st=$(haproxy_status "$i") && [[ $st == DOWN* || $st == MAINT* ]]; do
    ((SECONDS < deadline)) || { clog "instance $i: haproxy still reports '${st:-?}' ${2:-15}s after SIGTERM"; return 1; }
    sleep 0.05
  done
  clog "instance $i: haproxy marked it $st $(($(date +%s%3N) - t0)) ms after SIGTERM"
}

# haproxy_report before.csv after.csv: per-server counters of the backend
# between two haproxy_stats snapshots (check-downs, retries, redispatches,
# connection/response errors, 5xx) as a markdown table; the BACKEND row sums
# the servers and also counts the 5xx HAProxy generated itself (502/503/504).
haproxy_report() {
  awk -F, '
    FNR == 1 { for (c = 1; c <= NF; c++) col[$c] = c; next }
    $1 != "productapi" { next }
    NR == FNR { for (k in col) b[$2, k] = $col[k]; next }
    {
      n = split("chkdown wretr wredis econ eresp hrsp_5xx stot", ks, " ")
      row = "| " $2 " | " $col["status"]
      for (j = 1; j <= n; j++) row = row " | " ($col[ks[j]] - b[$2, ks[j]])
      print row " |"
    }' "$1" "$2" | {
    echo "| haproxy server | status now | marked down | retries | redispatches | connection errors | response errors | 5xx | requests |"
    echo "|---|---|---|---|---|---|---|---|---|"
    cat
  }
}
