#!/usr/bin/env bash
# Run a test binary against a throwaway PostgreSQL cluster: initdb in a temporary directory,
# listening on a Unix socket there only (no TCP port, so it never meets a stack's ports), removed
# afterwards. The binary gets its libpq conninfo in HL_TEST_PG_CONNINFO.
# Usage: tests/pg/run.sh BINARY [ARGS...]
set -euo pipefail
major=${HL_PG_MAJOR:-15}
PGBIN=${HL_PG_BIN:-/usr/lib/postgresql/$major/bin}
[[ -x $PGBIN/pg_ctl ]] || { echo "run.sh: no PostgreSQL in $PGBIN (set HL_PG_BIN)" >&2; exit 1; }
# initdb/postgres refuse to run as root: run them as postgres then.
as_owner() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
dir=$(mktemp -d /tmp/hl-pg-test.XXXXXX)
chmod 755 "$dir"
[[ $(id -u) == 0 ]] && chown postgres:postgres "$dir"
stop() {
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
  --no-sync >/dev/null
as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
  -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off" start >/dev/null || {
  cat "$dir/log" >&2
  exit 1
}
HL_TEST_PG_CONNINFO="host=$dir user=postgres dbname=postgres" "$@"
