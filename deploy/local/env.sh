# Sourced by every deploy/local script. One place for ports, versions and paths.
# Everything binds to 127.0.0.1 on non-default ports; all state lives under HL_STACK_DIR.
# Override any variable from the environment before calling a script.

# Profiles: "dev" (make up) and "test" (make test) run side by side with their own state
# directories and ports, so tests never touch a developer's running stack. "verify" is a second
# test stack (HL_TEST_PROFILE=verify make test) for checking a clean run while "test" is busy.
# Every port of every profile lies below the kernel's ephemeral range (32768-60999 on Debian):
# a port inside it can be taken, at any moment, by the local end of an outgoing connection, and
# the server that starts next fails to bind (CI once lost a run to Prometheus on 39090 that way).
# dev: 2xxxx and 80xx; test: 1xxxx (PostgreSQL 15432, Kafka 19092, ..., Prometheus 19090) and
# 81xx; verify: ports 20000-20040 in the scratch stacks' layout.
# "lab1".."lab8" are scratch stacks for parallel work (benchmarks, experiments): state in
# .stack-labN, ports 1N001.. (PostgreSQL 1N001, Kafka 1N002/1N003, Connect 1N004, registry 1N005,
# FerretDB 1N006, Kafka fault listener/proxy 1N007/1N008, servers 1N010-1N012, gateway 1N000,
# stream listener 1N013, nginx exporter 1N014, payment simulator 1N015, object store 1N016,
# Prometheus 1N017, Jaeger UI/OTLP 1N018/1N019; bench/projector_peer_bench.sh's own Connect
# worker 1N050), below the kernel's
# ephemeral port range.

HL_ROOT=${HL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HL_PROFILE=${HL_PROFILE:-dev}
case "$HL_PROFILE" in
  dev)  _hl_stack=$HL_ROOT/.stack;      _hl_p=2; _hl_srv=808 ;;
  test) _hl_stack=$HL_ROOT/.stack-test; _hl_p=1; _hl_srv=818 ;;
  verify) _hl_stack=$HL_ROOT/.stack-verify; _hl_lab=20 ;;  # a second test stack, ports 20000..
  lab[1-8]) _hl_stack=$HL_ROOT/.stack-$HL_PROFILE; _hl_lab=1${HL_PROFILE#lab} ;;
  *) echo "HL_PROFILE must be dev, test, verify or lab1..lab8, not $HL_PROFILE" >&2; return 1 2>/dev/null || exit 1 ;;
esac
if [[ -n ${_hl_lab:-} ]]; then
  HL_PG_PORT=${HL_PG_PORT:-${_hl_lab}001}
  HL_KAFKA_PORT=${HL_KAFKA_PORT:-${_hl_lab}002}
  HL_KAFKA_CONTROLLER_PORT=${HL_KAFKA_CONTROLLER_PORT:-${_hl_lab}003}
  HL_KAFKA_FAULT_PORT=${HL_KAFKA_FAULT_PORT:-${_hl_lab}007}
  HL_KAFKA_PROXY_PORT=${HL_KAFKA_PROXY_PORT:-${_hl_lab}008}
  HL_CONNECT_PORT=${HL_CONNECT_PORT:-${_hl_lab}004}
  HL_REGISTRY_PORT=${HL_REGISTRY_PORT:-${_hl_lab}005}
  HL_MONGO_PORT=${HL_MONGO_PORT:-${_hl_lab}006}
  HL_COMMAND_PORT=${HL_COMMAND_PORT:-${_hl_lab}010}
  HL_QUERY_PORT=${HL_QUERY_PORT:-${_hl_lab}011}
  HL_PROJECTOR_PORT=${HL_PROJECTOR_PORT:-${_hl_lab}012}
  HL_GATEWAY_PORT=${HL_GATEWAY_PORT:-${_hl_lab}000}
  HL_GATEWAY_TLS_PORT=${HL_GATEWAY_TLS_PORT:-${_hl_lab}009}
  HL_STREAM_PORT=${HL_STREAM_PORT:-${_hl_lab}013}
  HL_PAYMENT_PORT=${HL_PAYMENT_PORT:-${_hl_lab}015}
  HL_S3_PORT=${HL_S3_PORT:-${_hl_lab}016}
  HL_PROMETHEUS_PORT=${HL_PROMETHEUS_PORT:-${_hl_lab}017}
  HL_JAEGER_PORT=${HL_JAEGER_PORT:-${_hl_lab}018}
  HL_OTLP_PORT=${HL_OTLP_PORT:-${_hl_lab}019}
  HL_NGINX_EXPORTER_PORT=${HL_NGINX_EXPORTER_PORT:-${_hl_lab}014}
  HL_REPLICA_PORT_BASE=${HL_REPLICA_PORT_BASE:-${_hl_lab}020}  # second instances (below)
  HL_BENCH_SINK_PORT=${HL_BENCH_SINK_PORT:-${_hl_lab}050}      # bench's own Connect worker
fi
unset _hl_lab
HL_STACK_DIR=${HL_STACK_DIR:-$_hl_stack}
HL_CACHE_DIR=${HL_CACHE_DIR:-$HL_ROOT/.cache}          # downloaded jars, built launchers (shared)
HL_BUILD_DIR=${HL_BUILD_DIR:-$HL_ROOT/build}            # where the three servers are built
HL_LOG_DIR=${HL_LOG_DIR:-$HL_STACK_DIR/log}
HL_RUN_DIR=${HL_RUN_DIR:-$HL_STACK_DIR/run}            # pid files

# Ports (loopback only).
HL_PG_PORT=${HL_PG_PORT:-${_hl_p}5432}
HL_KAFKA_PORT=${HL_KAFKA_PORT:-${_hl_p}9092}
HL_KAFKA_CONTROLLER_PORT=${HL_KAFKA_CONTROLLER_PORT:-${_hl_p}9093}
# The fault matrix (tests/chaos): Kafka's FAULT listener, advertised as the port of the TCP proxy
# the matrix starts in front of it (a client bootstrapped there stays behind the proxy).
HL_KAFKA_FAULT_PORT=${HL_KAFKA_FAULT_PORT:-${_hl_p}9094}
HL_KAFKA_PROXY_PORT=${HL_KAFKA_PROXY_PORT:-${_hl_p}9095}
HL_CONNECT_PORT=${HL_CONNECT_PORT:-${_hl_p}8083}
HL_REGISTRY_PORT=${HL_REGISTRY_PORT:-${_hl_p}8081}
HL_MONGO_PORT=${HL_MONGO_PORT:-${_hl_p}7027}
HL_COMMAND_PORT=${HL_COMMAND_PORT:-${_hl_srv}0}     # dev: 8080, test: 8180
HL_QUERY_PORT=${HL_QUERY_PORT:-${_hl_srv}1}         # dev: 8081, test: 8181
HL_PROJECTOR_PORT=${HL_PROJECTOR_PORT:-${_hl_srv}2} # dev: 8082, test: 8182
HL_STREAM_PORT=${HL_STREAM_PORT:-${_hl_srv}3}       # dev: 8083, test: 8183 (stream listener)
HL_PAYMENT_PORT=${HL_PAYMENT_PORT:-${_hl_srv}5}     # dev: 8085: payment provider simulator
# Further instances of a server (servers.sh start projector-2; HL_REPLICAS=2 stack.sh up): port
# base + 5*(k-2) + 0 command-server, 1 query-server, 2 projector, 3 stream-listener (dev: 8090..,
# test: 8190.., labN and verify: 1N020.. and 20020..).
HL_REPLICA_PORT_BASE=${HL_REPLICA_PORT_BASE:-${_hl_srv%?}90}
# The Kafka Connect worker bench/projector_peer_bench.sh starts for mongo-kafka-connect (not
# part of the stack; dev: 28086, test: 18086, labN and verify: 1N050 and 20050).
HL_BENCH_SINK_PORT=${HL_BENCH_SINK_PORT:-$((HL_CONNECT_PORT + 3))}
# The gateway (nginx, SPEC §7): the one URL clients use. dev: 8000 (TLS 8043), test: 8100 (8143).
HL_GATEWAY_PORT=${HL_GATEWAY_PORT:-${_hl_srv%?}00}
HL_GATEWAY_TLS_PORT=${HL_GATEWAY_TLS_PORT:-${_hl_srv%?}43}
HL_S3_PORT=${HL_S3_PORT:-${_hl_p}9000}              # S3-compatible object store
HL_PROMETHEUS_PORT=${HL_PROMETHEUS_PORT:-${_hl_p}9090}
HL_JAEGER_PORT=${HL_JAEGER_PORT:-${_hl_p}6686}      # Jaeger UI and API
HL_OTLP_PORT=${HL_OTLP_PORT:-${_hl_p}4318}          # OTLP/HTTP receiver
HL_NGINX_EXPORTER_PORT=${HL_NGINX_EXPORTER_PORT:-${_hl_p}9113}  # gateway stub_status exporter
# The object store (objectstore.sh; the command server's HL_S3_*): local root keys, not secrets.
HL_S3_BUCKET=${HL_S3_BUCKET:-hearlers-media}
HL_S3_REGION=${HL_S3_REGION:-us-east-1}
HL_S3_ACCESS_KEY=${HL_S3_ACCESS_KEY:-hearlers}
HL_S3_SECRET_KEY=${HL_S3_SECRET_KEY:-hearlers-dev-s3-secret}
HL_REGISTRY_URL=${HL_REGISTRY_URL:-http://127.0.0.1:$HL_REGISTRY_PORT/apis/ccompat/v7}  # Confluent-compatible base URL (Apicurio ccompat)

# Presence from connections (SPEC §8): the projector's grace period and the listeners'
# heartbeat. dev keeps the product defaults (30 s, 5 s); test and scratch stacks use short ones
# so the e2e tests see offline within seconds.
if [[ $HL_PROFILE != dev ]]; then
  export HL_PRESENCE_GRACE_MS=${HL_PRESENCE_GRACE_MS:-3000} HL_STREAM_PRESENCE_BEAT_MS=${HL_STREAM_PRESENCE_BEAT_MS:-1000}
fi

# Pinned versions.
HL_PG_MAJOR=15
HL_KAFKA_VERSION=3.9.1
HL_KAFKA_SCALA=2.13
HL_DEBEZIUM_VERSION=${HL_DEBEZIUM_VERSION:-3.2.3.Final}   # newest 3.2.x on Central; built against Kafka 3.9.1
HL_FERRETDB_VERSION=v1.24.2
HL_APICURIO_VERSION=${HL_APICURIO_VERSION:-3.0.9}
HL_JAEGER_VERSION=v1.75.0   # deploy/local/jaeger/go.mod pins it
HL_VERSITYGW_VERSION=${HL_VERSITYGW_VERSION:-v1.8.0}   # S3-compatible object store (objectstore.sh)

# Database names.
HL_PG_DB=${HL_PG_DB:-hearlers}
HL_PG_USER=${HL_PG_USER:-hearlers}
HL_MONGO_DB=${HL_MONGO_DB:-hearlers_read}

export HL_ROOT HL_PROFILE HL_STACK_DIR HL_CACHE_DIR HL_LOG_DIR HL_RUN_DIR HL_BUILD_DIR
