#!/usr/bin/env bash
# A private PostgreSQL server for tests and local runs: Debian's binaries, a cluster in
# ~/.cache/dangan/postgres (or $DANGAN_PG_DIR), loopback only, on $DANGAN_PG_PORT.
# Usage: scripts/postgres.sh start|stop|status|url
# PostgreSQL refuses to run as root, so as root the cluster belongs to the 'postgres'
# system user that Debian's package creates.
set -euo pipefail

CACHE=${DANGAN_CACHE:-$HOME/.cache/dangan}
PGDIR=${DANGAN_PG_DIR:-$CACHE/postgres}
PORT=${DANGAN_PG_PORT:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -n "$BIN" ] || { echo "postgres.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "postgresql+psycopg://dangan@127.0.0.1:$PORT/postgres"; }

running() { as_owner "$BIN/pg_ctl" -D "$PGDIR" status >/dev/null 2>&1; }

start() {
  mkdir -p "$PGDIR"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PGDIR"
    # the parents must be traversable by the postgres user
    d=$PGDIR; while [ "$d" != / ]; do d=$(dirname "$d"); chmod o+x "$d" 2>/dev/null || true; done
  fi
  if [ ! -f "$PGDIR/PG_VERSION" ]; then
    as_owner "$BIN/initdb" -D "$PGDIR" -U dangan -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! running; then
    as_owner "$BIN/pg_ctl" -D "$PGDIR" -l "$PGDIR/server.log" -w -t 60 \
      -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null
  fi
  url
}

stop() { if running; then as_owner "$BIN/pg_ctl" -D "$PGDIR" -m fast -w stop >/dev/null; fi; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running $(url)"; else echo "stopped"; exit 1; fi ;;
  url) url ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
