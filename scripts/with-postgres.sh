#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster (reference/python-stack.md §C, recipe A).
# Exports TEST_DATABASE_URL and PGBIN for the command. Without server programs the command runs
# without PostgreSQL (its tests skip) unless CI=true, where a missing server is a failure.
set -euo pipefail
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)}
if [[ -z "${PGBIN}" || ! -x "${PGBIN}/initdb" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "with-postgres: PostgreSQL server programs not found, and CI=true requires them" >&2
    exit 1
  fi
  echo "with-postgres: no PostgreSQL server programs; PostgreSQL tests will be skipped" >&2
  exec "$@"
fi
PGTMP=$(mktemp -d -t carbonlink-pg.XXXXXX)
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$PGTMP"
PORT=${PGPORT_TEST:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
trap cleanup EXIT
as_pg "$PGBIN/initdb" -D "$PGTMP/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGTMP -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
  start >/dev/null
export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
export PGBIN PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
echo "with-postgres: throwaway PostgreSQL on 127.0.0.1:$PORT" >&2
set +e
"$@"
rc=$?
exit $rc
