#!/usr/bin/env bash
# Apache Kafka, single node in KRaft mode (broker + controller in one JVM), from Maven Central jars.
#   broker     PLAINTEXT://127.0.0.1:$HL_KAFKA_PORT
#   controller CONTROLLER://127.0.0.1:$HL_KAFKA_CONTROLLER_PORT
#   jars       $HL_CACHE_DIR/kafka/libs   (deploy/local/maven/kafka/pom.xml, also used by connect.sh)
#   state      $HL_STACK_DIR/kafka/{data,server.properties,log4j.properties,cluster.id}
#   log        $HL_LOG_DIR/kafka.log
# Usage: kafka.sh install|start|stop|status|topics|ensure-topics
#   ensure-topics: create and configure every topic of deploy/topics.conf (build/common/tools/hl-topics;
#   against HL_KAFKA_BROKERS when set, else this profile's broker); stack.sh runs it right after
#   Kafka starts, before any server.
# Knobs: HL_KAFKA_HEAP (default "-Xms128m -Xmx512m"), HL_KAFKA_START_TIMEOUT (s, default 180),
#        HL_M2_REPO (Maven local repository; default ~/.m2/repository).
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=kafka

HERE=$(cd "$(dirname "$0")" && pwd)
KAFKA_LIBS=$HL_CACHE_DIR/kafka/libs
KAFKA_MARKER=$KAFKA_LIBS/.hl-installed
KAFKA_STATE=$HL_STACK_DIR/kafka
KAFKA_DATA=$KAFKA_STATE/data
KAFKA_CONF=$KAFKA_STATE/server.properties
KAFKA_LOG4J=$KAFKA_STATE/log4j.properties
KAFKA_LOG=$HL_LOG_DIR/kafka.log
KAFKA_HEAP=${HL_KAFKA_HEAP:--Xms128m -Xmx512m}
KAFKA_START_TIMEOUT=${HL_KAFKA_START_TIMEOUT:-180}
BOOTSTRAP=127.0.0.1:$HL_KAFKA_PORT

mvn_args() {
  local a=(-q -B -Dstyle.color=never)
  [[ -n ${HL_M2_REPO:-} ]] && a+=("-Dmaven.repo.local=$HL_M2_REPO")
  printf '%s\n' "${a[@]}"
}

need_kcat() {
  command -v kcat >/dev/null 2>&1 && return 0
  if [[ $(id -u) == 0 ]]; then
    hl_say "installing kcat from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null \
      || hl_die "apt-get install kcat failed"
  else
    hl_die "kcat is missing and we are not root: apt-get install kcat"
  fi
}

install() {
  need_kcat
  command -v java >/dev/null 2>&1 || hl_die "java (17+) is not on PATH"
  # The marker names the version and the pom's hash: a changed pin or pom reinstalls.
  local want pom=$HERE/maven/kafka/pom.xml
  want="kafka_$HL_KAFKA_SCALA-$HL_KAFKA_VERSION pom:$(sha256sum "$pom" | cut -c1-12)"
  if [[ -f $KAFKA_MARKER && $(cat "$KAFKA_MARKER") == "$want" ]]; then
    return 0
  fi
  if hl_pid_alive kafka || hl_pid_alive connect; then
    hl_die "$KAFKA_LIBS must be (re)installed but Kafka or Connect runs from it: stop them first"
  fi
  command -v mvn >/dev/null 2>&1 || hl_die "mvn is not on PATH (apt-get install maven)"
  hl_dirs
  hl_say "installing kafka_$HL_KAFKA_SCALA-$HL_KAFKA_VERSION jars into $KAFKA_LIBS (Maven Central)"
  local tmp=$KAFKA_LIBS.tmp.$$ log=$HL_LOG_DIR/kafka-install.log
  rm -rf "$tmp"; mkdir -p "$tmp"
  local -a margs; mapfile -t margs < <(mvn_args)
  if ! mvn "${margs[@]}" -f "$pom" \
        -Dkafka.version="$HL_KAFKA_VERSION" -Dkafka.scala="$HL_KAFKA_SCALA" -Dlibs.dir="$tmp" \
        dependency:copy-dependencies >"$log" 2>&1; then
    rm -rf "$tmp"
    hl_die "mvn dependency:copy-dependencies failed; see $log"
  fi
  ls "$tmp"/kafka_"$HL_KAFKA_SCALA"-"$HL_KAFKA_VERSION".jar >/dev/null 2>&1 || hl_die "kafka jar missing after mvn; see $log"
  echo "$want" > "$tmp/.hl-installed"
  rm -rf "$KAFKA_LIBS"; mv "$tmp" "$KAFKA_LIBS"
  hl_say "installed $(ls "$KAFKA_LIBS"/*.jar | wc -l) jars"
}

write_config() {
  mkdir -p "$KAFKA_DATA"
  cat > "$KAFKA_CONF" <<CONF
# Written by deploy/local/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$HL_KAFKA_CONTROLLER_PORT
# FAULT: for the fault matrix (tests/chaos), advertised as the port of its TCP proxy.
listeners=PLAINTEXT://127.0.0.1:$HL_KAFKA_PORT,CONTROLLER://127.0.0.1:$HL_KAFKA_CONTROLLER_PORT,FAULT://127.0.0.1:$HL_KAFKA_FAULT_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$HL_KAFKA_PORT,FAULT://127.0.0.1:$HL_KAFKA_PROXY_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,FAULT:PLAINTEXT
log.dirs=$KAFKA_DATA

# Single node: every replication factor is 1.
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
# Every topic is declared in deploy/topics.conf and created by hl-topics before the servers start
# (kafka.sh ensure-topics): an undeclared topic fails at its first record instead of appearing
# with broker defaults.
auto.create.topics.enable=false

# Small machine.
num.network.threads=2
num.io.threads=4
log.retention.hours=168
CONF
  cat > "$KAFKA_LOG4J" <<'L4J'
# Written by deploy/local/kafka.sh. Everything goes to stdout, which kafka.sh appends to kafka.log.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.kafka.authorizer.logger=WARN
L4J
}

java_cmd() { # java_cmd MAINCLASS ARGS... — the JVM command line for a Kafka class
  local main=$1; shift
  # shellcheck disable=SC2086
  printf '%s\0' java -Dhl.component=kafka $KAFKA_HEAP \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$KAFKA_LOG4J" -Dkafka.logs.dir="$HL_LOG_DIR" \
    -cp "$KAFKA_LIBS/*" "$main" "$@"
}

format_storage() {
  [[ -f $KAFKA_DATA/meta.properties ]] && return 0
  local cid_file=$KAFKA_STATE/cluster.id cid
  if [[ ! -s $cid_file ]]; then
    local -a c; mapfile -d '' -t c < <(java_cmd kafka.tools.StorageTool random-uuid)
    cid=$("${c[@]}" 2>>"$KAFKA_LOG" | tail -n1)
    [[ $cid =~ ^[A-Za-z0-9_-]{22}$ ]] || hl_die "StorageTool random-uuid failed; see $KAFKA_LOG"
    echo "$cid" > "$cid_file"
  fi
  cid=$(cat "$cid_file")
  hl_say "formatting $KAFKA_DATA (cluster id $cid)"
  local -a f; mapfile -d '' -t f < <(java_cmd kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_CONF" --ignore-formatted)
  "${f[@]}" >>"$KAFKA_LOG" 2>&1 || hl_die "StorageTool format failed; see $KAFKA_LOG"
}

ready() { timeout 10 kcat -b "$BOOTSTRAP" -L -m 5 >/dev/null 2>&1; }

wait_ready() { # wait_ready [stop-on-timeout]
  hl_wait_started kafka "$KAFKA_LOG" "$KAFKA_START_TIMEOUT" "Kafka not answering on $BOOTSTRAP" "${1:-}"
}

start() {
  install
  if hl_pid_alive kafka; then
    hl_say "already running (pid $(cat "$HL_RUN_DIR/kafka.pid"))"
    wait_ready
    return 0
  fi
  hl_port_open "$HL_KAFKA_PORT" && hl_die "127.0.0.1:$HL_KAFKA_PORT is taken by a process we did not start"
  hl_port_open "$HL_KAFKA_CONTROLLER_PORT" && hl_die "127.0.0.1:$HL_KAFKA_CONTROLLER_PORT is taken by a process we did not start"
  hl_dirs
  write_config
  format_storage
  local -a argv; mapfile -d '' -t argv < <(java_cmd kafka.Kafka "$KAFKA_CONF")
  hl_start_bg kafka "${argv[@]}"
  wait_ready stop-on-timeout
  hl_say "ready: $BOOTSTRAP (pid $(cat "$HL_RUN_DIR/kafka.pid"), log $KAFKA_LOG)"
}

stop() { hl_stop_component kafka 60; }

status() {
  if hl_pid_alive kafka && ready; then
    hl_say "running (pid $(cat "$HL_RUN_DIR/kafka.pid")) on $BOOTSTRAP"
  elif hl_pid_alive kafka; then
    hl_say "process up (pid $(cat "$HL_RUN_DIR/kafka.pid")) but not answering on $BOOTSTRAP"; return 1
  else
    hl_say "not running"; return 1
  fi
}

# topics — one line per topic: name and partition count (internal topics included).
topics() {
  timeout 15 kcat -b "$BOOTSTRAP" -L -m 10 -J \
    | jq -r '.topics[] | "\(.topic)\t\(.partitions | length)"' | sort
}

# ensure-topics — deploy/topics.conf onto the broker (hl-topics ensure; see that file)
ensure_topics() {
  local bin=$HL_BUILD_DIR/common/tools/hl-topics
  [[ -x $bin ]] || hl_die "$bin is missing: build first (make build)"
  "$bin" --brokers="${HL_KAFKA_BROKERS:-$BOOTSTRAP}" --file="$HL_ROOT/deploy/topics.conf" ensure \
    | sed 's/^/[kafka] /' || hl_die "hl-topics ensure failed (deploy/topics.conf)"
}

hl_run_verb "install start stop status topics ensure-topics" "$@"
