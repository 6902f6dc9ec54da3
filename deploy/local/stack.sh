#!/usr/bin/env bash
# The whole local stack in dependency order: PostgreSQL, Kafka, schema registry, MongoDB-wire
# store (FerretDB), command-server (applies the schema), Kafka Connect + Debezium connector,
# projector, query-server, and in front of them the gateway (nginx, deploy/local/gateway.sh);
# Jaeger (traces) before the servers, Prometheus (metrics, alerts) last. HL_JAEGER=0 /
# HL_PROMETHEUS=0 leave either out. `up` twice is harmless; `down` stops everything this profile started.
# Usage: stack.sh up|down|down-if-owned|status|infra-up
#   HL_FRESH=1 stack.sh up: wipe this profile's state first (tests use it).
#   HL_PROFILE=dev (default, make up) or test (make test): separate state dirs and ports.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/env.sh"; source "$HERE/lib.sh"
HL_COMPONENT=stack

# A service whose URL the caller set (HL_PG_URL, HL_KAFKA_BROKERS, HL_SCHEMA_REGISTRY_URL,
# HL_MONGO_URI) is the caller's own: it is neither started nor stopped here. With an external
# PostgreSQL or Kafka, Debezium is the caller's too (deploy/compose/debezium-connector.json).
external() { [[ -n ${!1:-} ]]; }

# Set by infra_up when it had to start Kafka while Kafka Connect kept running (Kafka died under
# it): see connect_up.
KAFKA_RESTARTED_UNDER_CONNECT=0

infra_up() {
  external HL_PG_URL && hl_say "using external PostgreSQL (HL_PG_URL)" || bash "$HERE/postgres.sh" start
  if ! external HL_KAFKA_BROKERS && ! hl_pid_alive kafka && hl_pid_alive connect; then
    KAFKA_RESTARTED_UNDER_CONNECT=1
  fi
  external HL_KAFKA_BROKERS && hl_say "using external Kafka (HL_KAFKA_BROKERS)" || bash "$HERE/kafka.sh" start
  bash "$HERE/kafka.sh" ensure-topics   # deploy/topics.conf, before any server or Debezium starts
  external HL_SCHEMA_REGISTRY_URL && hl_say "using external schema registry" \
    || bash "$HERE/registry.sh" start >/dev/null
  external HL_MONGO_URI && hl_say "using external MongoDB (HL_MONGO_URI)" || bash "$HERE/mongo.sh" start
}

connect_up() {
  if external HL_PG_URL || external HL_KAFKA_BROKERS; then
    hl_say "external PostgreSQL or Kafka: run Debezium there (deploy/compose/debezium-connector.json)"
    return 0
  fi
  if ((KAFKA_RESTARTED_UNDER_CONNECT)) && hl_pid_alive connect; then
    # Kafka died under a running Connect worker: the worker revoked its task once the broker was
    # unreachable and, the task's stop blocking on Kafka, abandoned it after its graceful-stop
    # timeout ("Graceful stop of task ... failed"). The abandoned Debezium thread keeps its
    # replication connection alive (keepalives), so the slot stays active for that walsender and
    # the new task's START_REPLICATION fails ("replication slot ... is active for PID n") while
    # the task reports RUNNING: CDC stops with nothing failed. Restarting the worker ends the
    # abandoned thread and its connection; configs and offsets are in Kafka, so capture resumes
    # where it stopped (at-least-once; the projector's guards absorb repeats).
    hl_say "Kafka was restarted under a running Kafka Connect: restarting the worker (abandoned Debezium task)"
    bash "$HERE/connect.sh" restart
    return 0
  fi
  bash "$HERE/connect.sh" start
  bash "$HERE/connect.sh" register
}

fresh() {
  # Wipe this profile's state (data, logs, pids) but keep downloads: only when nothing runs.
  if status >/dev/null 2>&1 || ls "$HL_RUN_DIR"/*.pid >/dev/null 2>&1; then
    down
  fi
  [[ $HL_STACK_DIR == "$HL_ROOT"/.stack* ]] || hl_die "refusing to wipe $HL_STACK_DIR"
  hl_say "wiping $HL_STACK_DIR for a fresh stack"
  rm -rf "$HL_STACK_DIR"
}

# True when any process of this profile's stack runs (pid files of live processes).
anything_running() {
  local f
  for f in "$HL_RUN_DIR"/*.pid; do
    [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
  done
  bash "$HERE/postgres.sh" status >/dev/null 2>&1
}

# HL_REPLICAS=N (default 1): N instances of every server (servers.sh: "<server>-<k>", own port,
# log, pid file and /healthz), projectors in one consumer group, the gateway's upstreams listing
# every command, query and stream server (README "Operating: more processes").
instances() {
  local k out=$1
  for ((k = 2; k <= ${HL_REPLICAS:-1}; k++)); do out+=" $1-$k"; done
  echo "$out"
}
upstreams() {
  local s k list
  for s in command-server query-server stream-listener; do
    list=""
    for k in $(instances "$s"); do list+="${list:+,}127.0.0.1:$(bash "$HERE/servers.sh" port "$k")"; done
    case $s in
      command-server) export HL_GATEWAY_COMMAND_UPSTREAMS=${HL_GATEWAY_COMMAND_UPSTREAMS:-$list} ;;
      query-server) export HL_GATEWAY_QUERY_UPSTREAMS=${HL_GATEWAY_QUERY_UPSTREAMS:-$list} ;;
      stream-listener) export HL_GATEWAY_STREAM_UPSTREAMS=${HL_GATEWAY_STREAM_UPSTREAMS:-$list} ;;
    esac
  done
}

up() {
  local t0=$SECONDS
  if anything_running; then
    # Several people (or test runs) may share one profile: never wipe a stack in use, and leave
    # stopping it to whoever started it.
    [[ ${HL_FRESH:-0} == 1 ]] && hl_say "stack of profile $HL_PROFILE already running: reusing it (HL_FRESH ignored)"
  else
    [[ ${HL_FRESH:-0} == 1 ]] && fresh
    if [[ ${HL_MARK_OWNER:-0} == 1 ]]; then mkdir -p "$HL_STACK_DIR"; : > "$HL_STACK_DIR/.owned"; fi
  fi
  infra_up
  bash "$HERE/payment.sh" start                  # payment provider simulator (booking saga)
  [[ ${HL_JAEGER:-1} == 0 ]] || bash "$HERE/jaeger.sh" start   # traces (OTLP/HTTP)
  external HL_S3_ENDPOINT && hl_say "using external object store (HL_S3_ENDPOINT)" \
    || bash "$HERE/objectstore.sh" start         # S3-compatible store for avatars (issue 18)
  bash "$HERE/servers.sh" start $(instances command-server)   # creates the tables Debezium captures
  connect_up
  bash "$HERE/servers.sh" start $(instances projector) $(instances query-server) $(instances stream-listener)
  upstreams
  bash "$HERE/gateway.sh" start
  [[ ${HL_PROMETHEUS:-1} == 0 ]] || bash "$HERE/prometheus.sh" start   # metrics and alerts
  cat <<MSG
[stack] up in $((SECONDS - t0))s (profile $HL_PROFILE)
  gateway       http://127.0.0.1:$HL_GATEWAY_PORT   <- the API: every client request goes here
                (GET/HEAD /v1/** reads, POST/PUT/PATCH/DELETE /v1/** writes, streams, /readyz)
  internal ports (loopback only; tools and tests that need a server directly):
  command API   http://127.0.0.1:$HL_COMMAND_PORT
  query API     http://127.0.0.1:$HL_QUERY_PORT
  streams       http://127.0.0.1:$HL_STREAM_PORT   (SSE and /v1/ws; the gateway routes them)
  projector     http://127.0.0.1:$HL_PROJECTOR_PORT/metrics
  PostgreSQL    postgresql://$HL_PG_USER@127.0.0.1:$HL_PG_PORT/$HL_PG_DB
  Kafka         127.0.0.1:$HL_KAFKA_PORT
  Registry      $HL_REGISTRY_URL
  Connect       http://127.0.0.1:$HL_CONNECT_PORT
  Payment sim   http://127.0.0.1:$HL_PAYMENT_PORT   (/_admin/ledger, /_admin/faults)
  Object store  http://127.0.0.1:$HL_S3_PORT   (S3 API, bucket $HL_S3_BUCKET; /media/ on the gateway)
  MongoDB wire  mongodb://127.0.0.1:$HL_MONGO_PORT/$HL_MONGO_DB   (deploy/local/mongosh.sh)
  Prometheus    http://127.0.0.1:$HL_PROMETHEUS_PORT   (/alerts, /targets)
  Jaeger        http://127.0.0.1:$HL_JAEGER_PORT   (traces; OTLP/HTTP on :$HL_OTLP_PORT)
  logs          $HL_LOG_DIR
MSG
}

down() {
  # Reverse order; each script is a no-op when its process is not running.
  bash "$HERE/prometheus.sh" stop || true
  bash "$HERE/gateway.sh" stop || true
  bash "$HERE/servers.sh" stop || true
  bash "$HERE/payment.sh" stop || true
  bash "$HERE/jaeger.sh" stop || true
  external HL_S3_ENDPOINT || bash "$HERE/objectstore.sh" stop || true
  bash "$HERE/connect.sh" stop || true
  external HL_MONGO_URI || bash "$HERE/mongo.sh" stop || true
  external HL_SCHEMA_REGISTRY_URL || bash "$HERE/registry.sh" stop || true
  external HL_KAFKA_BROKERS || bash "$HERE/kafka.sh" stop || true
  external HL_PG_URL || bash "$HERE/postgres.sh" stop || true
  hl_say "down (profile $HL_PROFILE)"
}

status() {
  local rc=0
  bash "$HERE/postgres.sh" status && echo "postgres running" || { echo "postgres stopped"; rc=1; }
  for c in kafka registry mongo connect jaeger prometheus; do
    bash "$HERE/$c.sh" status >/dev/null 2>&1 && echo "$c running" || { echo "$c stopped"; rc=1; }
  done
  bash "$HERE/servers.sh" status || rc=1
  bash "$HERE/gateway.sh" status || rc=1
  return $rc
}

case "${1:-}" in
  up) up ;;
  down-if-owned)
    # For test fixtures: stop only a stack that `HL_MARK_OWNER=1 up` started itself.
    if [[ -f $HL_STACK_DIR/.owned ]]; then rm -f "$HL_STACK_DIR/.owned"; down
    else hl_say "stack of profile $HL_PROFILE was already running before the tests: left running"; fi ;;
  infra-up) infra_up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|down-if-owned|status|infra-up" >&2; exit 2 ;;
esac
