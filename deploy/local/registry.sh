#!/usr/bin/env bash
# Schema registry with the Confluent REST API: Apicurio Registry $HL_APICURIO_VERSION from Maven Central
# (io.apicurio:apicurio-registry-app, tar.gz classifier "all"), run on Java 17, HTTP on
# 127.0.0.1:$HL_REGISTRY_PORT, SQL storage in the project's PostgreSQL (database/role "registry"),
# so schema ids survive restarts. Clients use $HL_REGISTRY_URL (…/apis/ccompat/v7).
# Needs: java 17+, mvn, curl, psql; PostgreSQL running (deploy/local/postgres.sh start).
# Usage: registry.sh install|start|stop|status
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=registry

REG_POM=$HL_ROOT/deploy/local/maven/registry/pom.xml
REG_APP=$HL_CACHE_DIR/apicurio-registry-$HL_APICURIO_VERSION     # unpacked distribution
REG_HOME=$HL_STACK_DIR/registry                                  # working dir, temp files
REG_LOG=$HL_LOG_DIR/registry.log
REG_DB=${HL_REGISTRY_DB:-registry}
REG_DB_USER=${HL_REGISTRY_DB_USER:-registry}
REG_LOCAL=http://127.0.0.1:$HL_REGISTRY_PORT/apis/ccompat/v7       # what readiness probes
REG_START_TIMEOUT=${HL_REGISTRY_START_TIMEOUT:-120}
# Idle RSS is ~180-210 MB whatever the heap: most of it is classes and code cache.
REG_JAVA=${HL_JAVA:-java}
REG_JAVA_OPTS=${HL_REGISTRY_JAVA_OPTS:--Xms32m -Xmx192m -XX:+UseSerialGC -XX:ReservedCodeCacheSize=64m -Xss512k}
# Dedupe schemas that differ only in JSON formatting/key order (Confluent does too). Apicurio's
# canonical form also ignores "doc" and "aliases"; field order, types and defaults still count.
REG_CANONICAL_HASH=${HL_REGISTRY_CANONICAL_HASH:-true}

need() { command -v "$1" >/dev/null 2>&1 || hl_die "$1 not found on PATH${2:+ ($2)}"; }

installed() { [[ -f $REG_APP/.installed && $(cat "$REG_APP/.installed") == "$HL_APICURIO_VERSION" ]]; }

install() {
  installed && return 0
  need mvn "Debian package maven"
  hl_dirs
  local dl=$HL_CACHE_DIR/registry-download.$$ tmp=$REG_APP.tmp.$$ ilog=$HL_LOG_DIR/registry-install.log
  rm -rf "$dl" "$tmp"; mkdir -p "$dl" "$tmp"
  hl_say "fetching io.apicurio:apicurio-registry-app:$HL_APICURIO_VERSION:tar.gz:all from Maven Central"
  if ! mvn -B -q -Dstyle.color=never -f "$REG_POM" dependency:copy@fetch \
        "-Dapicurio.version=$HL_APICURIO_VERSION" "-Dregistry.download.dir=$dl" >"$ilog" 2>&1; then
    rm -rf "$dl" "$tmp"
    hl_die "mvn could not fetch Apicurio Registry $HL_APICURIO_VERSION; see $ilog"
  fi
  tar -xzf "$dl/apicurio-registry-app-$HL_APICURIO_VERSION-all.tar.gz" -C "$tmp" || { rm -rf "$dl" "$tmp"; hl_die "cannot unpack the archive"; }
  rm -rf "$dl" "$REG_APP"
  mv "$tmp" "$REG_APP"
  echo "$HL_APICURIO_VERSION" > "$REG_APP/.installed"
  hl_say "installed in $REG_APP"
}

# Quarkus fast-jar (quarkus-run.jar, 3.1+) or legacy-jar (*-runner.jar, 3.0.x).
app_jar() {
  local j
  if [[ -f $REG_APP/quarkus-run.jar ]]; then echo "$REG_APP/quarkus-run.jar"; return; fi
  for j in "$REG_APP"/*-runner.jar; do [[ -f $j ]] && { echo "$j"; return; }; done
  hl_die "no quarkus-run.jar or *-runner.jar in $REG_APP (delete it and run install again)"
}

check_java() {
  need "$REG_JAVA" "install openjdk-17-jre-headless or set HL_JAVA"
  local v
  v=$("$REG_JAVA" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  [[ ${v%%.*} -ge 17 ]] 2>/dev/null || hl_die "Apicurio Registry $HL_APICURIO_VERSION needs Java 17+, found '${v:-unknown}' ($REG_JAVA)"
}

psql_admin() { psql -h 127.0.0.1 -p "$HL_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

# Role and database for the registry; Apicurio creates its tables itself (apicurio.sql.init=true).
db_setup() {
  need psql "Debian package postgresql-client-$HL_PG_MAJOR"
  psql_admin -c 'select 1' >/dev/null 2>&1 \
    || hl_die "PostgreSQL not reachable on 127.0.0.1:$HL_PG_PORT; run deploy/local/postgres.sh start first"
  psql_admin -c "DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='$REG_DB_USER') THEN CREATE ROLE $REG_DB_USER LOGIN PASSWORD '$REG_DB_USER'; END IF; END\$\$"
  if [[ -z $(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='$REG_DB'") ]]; then
    psql_admin -c "CREATE DATABASE $REG_DB OWNER $REG_DB_USER"
  fi
}

ready() { curl -sf -o /dev/null --max-time 5 "$REG_LOCAL/subjects"; }

start() {
  need curl
  install
  check_java
  if hl_pid_alive registry; then
    hl_wait_for "$REG_START_TIMEOUT" "registry on :$HL_REGISTRY_PORT" ready \
      || hl_die "registry process $(cat "$HL_RUN_DIR/registry.pid") is running but not answering; see $REG_LOG"
    hl_say "already running (pid $(cat "$HL_RUN_DIR/registry.pid")): $HL_REGISTRY_URL"
    echo "$HL_REGISTRY_URL"
    return 0
  fi
  hl_port_open "$HL_REGISTRY_PORT" && hl_die "127.0.0.1:$HL_REGISTRY_PORT is taken by another process (not ours: no live pid file)"
  db_setup
  local jar; jar=$(app_jar)
  mkdir -p "$REG_HOME/tmp"
  cd "$REG_HOME"
  # shellcheck disable=SC2086  # REG_JAVA_OPTS is a list of JVM flags
  hl_start_bg registry "$REG_JAVA" $REG_JAVA_OPTS \
    "-Djava.io.tmpdir=$REG_HOME/tmp" \
    -Dquarkus.http.host=127.0.0.1 "-Dquarkus.http.port=$HL_REGISTRY_PORT" \
    "-Dquarkus.log.console.format=%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%c{2.}] (%t) %s%e%n" \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=postgresql \
    "-Dapicurio.datasource.url=jdbc:postgresql://127.0.0.1:$HL_PG_PORT/$REG_DB" \
    "-Dapicurio.datasource.username=$REG_DB_USER" "-Dapicurio.datasource.password=$REG_DB_USER" \
    -Dapicurio.datasource.jdbc.initial-size=2 -Dapicurio.datasource.jdbc.min-size=2 -Dapicurio.datasource.jdbc.max-size=10 \
    "-Dapicurio.ccompat.use-canonical-hash=$REG_CANONICAL_HASH" \
    "-Dapicurio.storage.snapshot.location=$REG_HOME/tmp" "-Dapicurio.import.work-dir=$REG_HOME/tmp" \
    -jar "$jar"
  local pid; pid=$(cat "$HL_RUN_DIR/registry.pid")
  local deadline=$((SECONDS + REG_START_TIMEOUT))
  until ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$HL_RUN_DIR/registry.pid"
      tail -n 20 "$REG_LOG" >&2 || true
      hl_die "registry exited during start; see $REG_LOG"
    fi
    if ((SECONDS >= deadline)); then
      hl_stop_bg registry 15
      hl_die "registry not ready after ${REG_START_TIMEOUT}s (stopped it); see $REG_LOG"
    fi
    sleep 0.5
  done
  hl_say "ready (pid $pid, Apicurio $HL_APICURIO_VERSION, storage postgresql://$REG_DB_USER@127.0.0.1:$HL_PG_PORT/$REG_DB): $HL_REGISTRY_URL"
  echo "$HL_REGISTRY_URL"
}

stop() { hl_stop_component registry 30; }

status() {
  if ! hl_pid_alive registry; then hl_say "not running"; return 1; fi
  if ready; then hl_say "running (pid $(cat "$HL_RUN_DIR/registry.pid")): $HL_REGISTRY_URL"; return 0; fi
  hl_say "process $(cat "$HL_RUN_DIR/registry.pid") alive but not ready; see $REG_LOG"; return 1
}

hl_run_verb "install start stop status" "$@"
