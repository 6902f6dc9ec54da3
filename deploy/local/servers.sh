#!/usr/bin/env bash
# The three hearlers servers, run from $HL_BUILD_DIR against the local stack of this profile.
# Usage: servers.sh start|stop|status|port [command-server|projector|query-server|stream-listener ...]
#   (a name may end in -<k> for the k-th instance, e.g. projector-2; `port NAME` prints its port)
# Each is configured only through the environment variables its --help lists; this script sets
# them to this profile's ports. Logs: $HL_LOG_DIR/<server>.log.
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=servers

export HL_PG_URL=${HL_PG_URL:-postgresql://$HL_PG_USER@127.0.0.1:$HL_PG_PORT/$HL_PG_DB}
export HL_KAFKA_BROKERS=${HL_KAFKA_BROKERS:-127.0.0.1:$HL_KAFKA_PORT}
export HL_SCHEMA_REGISTRY_URL=${HL_SCHEMA_REGISTRY_URL:-$HL_REGISTRY_URL}
export HL_MONGO_URI=${HL_MONGO_URI:-mongodb://127.0.0.1:$HL_MONGO_PORT/}
export HL_MONGO_DB
export HL_PAYMENT_URL=${HL_PAYMENT_URL:-http://127.0.0.1:$HL_PAYMENT_PORT}
export HL_S3_ENDPOINT=${HL_S3_ENDPOINT:-http://127.0.0.1:$HL_S3_PORT}
export HL_S3_BUCKET HL_S3_REGION HL_S3_ACCESS_KEY HL_S3_SECRET_KEY
export HL_COMMAND_LISTEN=127.0.0.1:$HL_COMMAND_PORT
export HL_QUERY_LISTEN=127.0.0.1:$HL_QUERY_PORT
export HL_PROJECTOR_LISTEN=127.0.0.1:$HL_PROJECTOR_PORT
export HL_STREAM_LISTEN=127.0.0.1:$HL_STREAM_PORT
# Traces to this profile's Jaeger (deploy/local/jaeger.sh); HL_OTLP_ENDPOINT= (empty) exports none.
export HL_OTLP_ENDPOINT=${HL_OTLP_ENDPOINT-http://127.0.0.1:$HL_OTLP_PORT}
export HL_TRACE_SAMPLE=${HL_TRACE_SAMPLE:-1.0}

# An instance is a server's name, optionally with "-<k>" (k >= 2) for its k-th instance
# (HL_REPLICAS, stack.sh): same binary and configuration, its own port (env.sh
# HL_REPLICA_PORT_BASE), log and pid file; projectors join one consumer group.
server_of() { local n=$1; [[ $n =~ ^(.*)-([0-9]+)$ ]] && n=${BASH_REMATCH[1]}; echo "$n"; }
instance_of() { [[ $1 =~ -([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}" || echo 1; }

port_of() {
  local k off
  k=$(instance_of "$1")
  case $(server_of "$1") in
    command-server) off=0 ;;
    query-server) off=1 ;;
    projector) off=2 ;;
    stream-listener) off=3 ;;
    *) return 1 ;;
  esac
  if ((k == 1)); then
    case $off in
      0) echo "$HL_COMMAND_PORT" ;; 1) echo "$HL_QUERY_PORT" ;;
      2) echo "$HL_PROJECTOR_PORT" ;; 3) echo "$HL_STREAM_PORT" ;;
    esac
  else
    echo $((HL_REPLICA_PORT_BASE + 5 * (k - 2) + off))
  fi
}

healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$1/healthz"; }

start_one() {
  local name=$1 port server bin
  server=$(server_of "$name")
  bin=$HL_BUILD_DIR/$server/$server
  [[ $server == stream-listener ]] && bin=$HL_BUILD_DIR/query-server/stream-listener
  port=$(port_of "$name") || hl_die "unknown server $name"
  [[ -x $bin ]] || hl_die "$bin is missing: run 'make build' first"
  if hl_pid_alive "$name"; then
    hl_say "$name already running (pid $(cat "$HL_RUN_DIR/$name.pid"))"
    return 0
  fi
  if hl_port_open "$port"; then
    hl_die "port $port is taken by another process: cannot start $name"
  fi
  case $server in
    command-server) HL_COMMAND_LISTEN=127.0.0.1:$port hl_start_bg "$name" "$bin" ;;
    query-server) HL_QUERY_LISTEN=127.0.0.1:$port hl_start_bg "$name" "$bin" ;;
    projector) HL_PROJECTOR_LISTEN=127.0.0.1:$port hl_start_bg "$name" "$bin" ;;
    stream-listener) HL_STREAM_LISTEN=127.0.0.1:$port hl_start_bg "$name" "$bin" ;;
  esac
  if ! hl_wait_for 90 "$name on :$port" healthy "$port"; then
    hl_pid_alive "$name" || hl_say "$name exited; last log lines:"
    tail -n 20 "$HL_LOG_DIR/$name.log" >&2 || true
    hl_die "$name did not become healthy; see $HL_LOG_DIR/$name.log"
  fi
  hl_say "$name ready on http://127.0.0.1:$port (pid $(cat "$HL_RUN_DIR/$name.pid"))"
}

stop_one() {
  hl_stop_bg "$1" 30
}

cmd=${1:-}; shift || true
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  names=(command-server projector query-server stream-listener)
  # and every further instance this profile runs (stop/status)
  for f in "$HL_RUN_DIR"/{command-server,projector,query-server,stream-listener}-[0-9]*.pid; do
    [[ -f $f ]] && names+=("$(basename "$f" .pid)")
  done
fi
case "$cmd" in
  port) port_of "${names[0]}" ;;
  start) for n in "${names[@]}"; do start_one "$n"; done ;;
  stop)
    for ((i = ${#names[@]} - 1; i >= 0; i--)); do stop_one "${names[$i]}"; done ;;
  status)
    rc=0
    for n in "${names[@]}"; do
      if hl_pid_alive "$n"; then echo "$n running"; else echo "$n stopped"; rc=1; fi
    done
    exit $rc ;;
  *) echo "usage: $0 start|stop|status|port [server...]" >&2; exit 2 ;;
esac
