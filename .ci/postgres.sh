# shellcheck shell=bash
# A throwaway PostgreSQL cluster for the whole test run (sourced by .ci/run; SYNC.md "Test servers").
#   pg_start: initdb + start on 127.0.0.1 (a free port, socket in a temp folder, fsync off), export
#             MIRROR_TEST_PG_URL, record the postmaster's PID. Fails when the server does not come up:
#             under CI a missing server is a failure, not a skip.
#   pg_stop:  stop that server by its PID and remove the temp folder; harmless when nothing runs.
# initdb refuses to run as root, so as root the server runs as the postgres user (runuser).

PG_TMP=""
PG_PID=""
PG_BIN=""

_pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

_pg_find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true; }

_pg_gone() {  # the PID is gone, or a zombie not yet reaped (right after pg_ctl stop)
  [ ! -e "/proc/$1/status" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

pg_start() {
  local started port
  started=$(date +%s.%N)
  PG_BIN=$(_pg_find_bin)
  if [ -z "$PG_BIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q postgresql-15 >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql-15 >/dev/null; }
    PG_BIN=$(_pg_find_bin)
  fi
  if [ -z "$PG_BIN" ]; then
    echo "pg_start: no PostgreSQL server binaries (apt-get install postgresql-15)" >&2
    return 1
  fi
  port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mirror-pg.XXXXXX")
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_TMP"; fi
  if ! _pg_as "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 -N \
      >"$PG_TMP/initdb.log" 2>&1; then
    echo "pg_start: initdb failed:" >&2; cat "$PG_TMP/initdb.log" >&2; return 1
  fi
  if ! _pg_as "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 30 -o "-k $PG_TMP -p $port \
      -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null; then
    echo "pg_start: the server did not start:" >&2; cat "$PG_TMP/server.log" >&2; return 1
  fi
  PG_PID=$(head -1 "$PG_TMP/data/postmaster.pid")
  export MIRROR_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL ($(basename "$(dirname "$PG_BIN")")) on 127.0.0.1:$port, PID $PG_PID, up in" \
    "$(python -c "import time; print(f'{time.time() - $started:.1f}')") s" >&2
}

pg_stop() {
  if [ -n "$PG_PID" ]; then
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
    _pg_gone "$PG_PID" || kill -9 "$PG_PID" 2>/dev/null || true
    PG_PID=""
  fi
  if [ -n "$PG_TMP" ]; then rm -rf "$PG_TMP"; PG_TMP=""; fi
}
