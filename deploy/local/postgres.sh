#!/usr/bin/env bash
# PostgreSQL 15, own cluster under $HL_STACK_DIR/pg, wal_level=logical, loopback port $HL_PG_PORT.
# Usage: postgres.sh install|start|stop|status|psql [args]
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=postgres
PGBIN=${HL_PG_BIN:-/usr/lib/postgresql/$HL_PG_MAJOR/bin}
PGDATA=$HL_STACK_DIR/pg/data
PGSOCK=$HL_STACK_DIR/pg/sock

# initdb/postgres refuse to run as root: run them as the owner of the data dir (postgres when root).
as_owner() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install() {
  if [[ ! -x $PGBIN/pg_ctl ]]; then
    hl_say "installing postgresql-$HL_PG_MAJOR from Debian"
    if [[ $(id -u) == 0 ]]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$HL_PG_MAJOR" "postgresql-client-$HL_PG_MAJOR" >/dev/null
    else
      hl_die "postgresql-$HL_PG_MAJOR is missing and we are not root: install it or set HL_PG_BIN"
    fi
  fi
}

init_cluster() {
  [[ -f $PGDATA/PG_VERSION ]] && return 0
  hl_dirs
  mkdir -p "$PGDATA" "$PGSOCK"
  [[ $(id -u) == 0 ]] && chown -R postgres:postgres "$HL_STACK_DIR/pg"
  hl_say "initdb $PGDATA"
  as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $HL_PG_PORT
unix_socket_directories = '$PGSOCK'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
  cat > "$PGDATA/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
local replication all trust
HBA
}

# pg_stat_statements (PostgreSQL's contrib, in Debian's server package): per-statement call counts
# for bench/cpu_bench.py (statements per command). Preloaded in every cluster, also in one made
# before this line existed (takes effect at its next start); the extension is created in
# $HL_PG_DB by start. Its cost is a hash-table update per statement.
preload_stat_statements() {
  grep -q "^shared_preload_libraries.*pg_stat_statements" "$PGDATA/postgresql.conf" && return 0
  printf "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = top\n" \
    >> "$PGDATA/postgresql.conf"
}

psql_admin() { psql -h 127.0.0.1 -p "$HL_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

start() {
  install
  init_cluster
  preload_stat_statements
  if as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    hl_say "already running on 127.0.0.1:$HL_PG_PORT"
  else
    hl_dirs
    local log=$HL_LOG_DIR/postgres.log
    touch "$log"; [[ $(id -u) == 0 ]] && chown postgres "$log"
    as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$log" -w -t 60 start >/dev/null \
      || hl_die "PostgreSQL did not start; see $log"
  fi
  hl_wait_for 60 "PostgreSQL on :$HL_PG_PORT" psql_admin -c 'select 1' || hl_die "PostgreSQL not ready"
  # Role and database for the servers (REPLICATION for Debezium).
  psql_admin -c "DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='$HL_PG_USER') THEN CREATE ROLE $HL_PG_USER LOGIN REPLICATION; END IF; END\$\$"
  if [[ -z $(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='$HL_PG_DB'") ]]; then
    psql_admin -c "CREATE DATABASE $HL_PG_DB OWNER $HL_PG_USER"
  fi
  psql_admin -d "$HL_PG_DB" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" ||
    hl_say "pg_stat_statements not available (bench-cpu counts no statements)"
  hl_say "ready: postgresql://$HL_PG_USER@127.0.0.1:$HL_PG_PORT/$HL_PG_DB"
}

stop() {
  [[ -f $PGDATA/PG_VERSION ]] || return 0
  if as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    hl_say "stopped"
  fi
}

status() { as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

# psql: an interactive shell on this profile's database (arguments go to psql)
psql_shell() { exec psql -h 127.0.0.1 -p "$HL_PG_PORT" -U "$HL_PG_USER" "$HL_PG_DB" "$@"; }
[[ ${1:-} == psql ]] && { shift; psql_shell "$@"; }
hl_run_verb "install start stop status psql" "$@"
