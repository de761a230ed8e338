#!/bin/bash
# Entry point of postgres-replica (docker-compose.yml): on first start clone
# the primary with pg_basebackup (-R writes standby.signal and
# primary_conninfo; -C -S a physical slot so the primary keeps the WAL the
# replica still needs), then run as a hot standby.
set -euo pipefail
PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_basebackup -h "${PRIMARY_HOST:-postgres}" -U replicator -D "$PGDATA" -R -X stream -C -S "${SLOT:-replica1}"; do
    echo "waiting for the primary..."; rm -rf "${PGDATA:?}"/*; sleep 2
  done
  chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on
