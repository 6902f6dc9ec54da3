#!/usr/bin/env bash
# Kafka Connect (distributed worker, one node) with the Debezium PostgreSQL connector.
#   REST      http://127.0.0.1:$HL_CONNECT_PORT
#   jars      $HL_CACHE_DIR/kafka/libs (shared with kafka.sh)
#   plugin    $HL_CACHE_DIR/connect-plugins/debezium-postgres (deploy/local/maven/debezium/pom.xml)
#   state     connector configs, source offsets and status live in the Kafka topics
#             _hl-connect-{configs,offsets,status}, so they survive worker restarts
#   log       $HL_LOG_DIR/connect.log
# Usage: connect.sh install|start|stop|status|register
#   register  PUT /connectors/hearlers-pg/config (idempotent), then wait until the connector and its
#             task are RUNNING. Captured tables: HL_CDC_TABLES (default
#             "public.users,public.sessions,public.chat_rooms,public.room_members,public.messages,public.jobs"); the topic
#             of table public.X is cdc.public.X.
# Needs Kafka (deploy/local/kafka.sh start) and, for register, PostgreSQL (postgres.sh start) with
# the captured tables already created and owned by $HL_PG_USER (publication autocreate needs it).
#
# Message format (JsonConverter, schemas.enable=false): key {"user_id":"<uuid>"}, value the
# Debezium envelope {"before":…,"after":…,"source":{…},"transaction":null,"op":"c|u|d|r","ts_ms":…}.
# uuid is a string; timestamptz is an ISO-8601 UTC string (io.debezium.time.ZonedTimestamp,
# e.g. "2025-01-02T03:04:05.123456Z"); time.precision.mode=adaptive_time_microseconds keeps full
# microsecond precision for timestamp/time without zone (epoch micros as numbers) and date is days
# since epoch; numeric is a string (decimal.handling.mode=string). No tombstones after deletes.
#
# Knobs: HL_CONNECT_HEAP (default "-Xms128m -Xmx512m"), HL_CONNECT_START_TIMEOUT (s, default 120),
#        HL_CDC_TABLES, HL_CDC_PARTITIONS (partitions of new CDC topics, default 3), HL_M2_REPO.
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=connect

HERE=$(cd "$(dirname "$0")" && pwd)
KAFKA_LIBS=$HL_CACHE_DIR/kafka/libs
PLUGIN_PATH=$HL_CACHE_DIR/connect-plugins
DBZ_DIR=$PLUGIN_PATH/debezium-postgres
DBZ_MARKER=$DBZ_DIR/.hl-installed
CONNECT_STATE=$HL_STACK_DIR/connect
CONNECT_CONF=$CONNECT_STATE/connect-distributed.properties
CONNECT_LOG4J=$CONNECT_STATE/log4j.properties
CONNECT_LOG=$HL_LOG_DIR/connect.log
CONNECT_HEAP=${HL_CONNECT_HEAP:--Xms128m -Xmx512m}
CONNECT_START_TIMEOUT=${HL_CONNECT_START_TIMEOUT:-120}
REST=http://127.0.0.1:$HL_CONNECT_PORT
CONNECTOR=hearlers-pg
HL_CDC_TABLES=${HL_CDC_TABLES:-public.users,public.sessions,public.chat_rooms,public.room_members,public.messages,public.jobs}
HL_CDC_PARTITIONS=${HL_CDC_PARTITIONS:-3}

install() {
  bash "$HERE/kafka.sh" install
  # The marker names the version and the pom's hash: a changed pin or pom reinstalls.
  local want pom=$HERE/maven/debezium/pom.xml
  want="debezium-connector-postgres-$HL_DEBEZIUM_VERSION pom:$(sha256sum "$pom" | cut -c1-12)"
  if [[ -f $DBZ_MARKER && $(cat "$DBZ_MARKER") == "$want" ]]; then
    return 0
  fi
  hl_pid_alive connect && hl_die "$DBZ_DIR must be (re)installed but Connect runs from it: stop it first"
  command -v mvn >/dev/null 2>&1 || hl_die "mvn is not on PATH (apt-get install maven)"
  hl_dirs
  hl_say "installing debezium-connector-postgres $HL_DEBEZIUM_VERSION into $DBZ_DIR (Maven Central)"
  local tmp=$DBZ_DIR.tmp.$$ log=$HL_LOG_DIR/connect-install.log
  rm -rf "$tmp"; mkdir -p "$tmp"
  local -a margs=(-q -B -Dstyle.color=never)
  [[ -n ${HL_M2_REPO:-} ]] && margs+=("-Dmaven.repo.local=$HL_M2_REPO")
  if ! mvn "${margs[@]}" -f "$pom" \
        -Ddebezium.version="$HL_DEBEZIUM_VERSION" -Dplugin.dir="$tmp" \
        dependency:copy-dependencies >"$log" 2>&1; then
    rm -rf "$tmp"
    hl_die "mvn dependency:copy-dependencies failed (does debezium $HL_DEBEZIUM_VERSION exist?); see $log"
  fi
  ls "$tmp"/debezium-connector-postgres-"$HL_DEBEZIUM_VERSION".jar >/dev/null 2>&1 || hl_die "connector jar missing after mvn; see $log"
  echo "$want" > "$tmp/.hl-installed"
  rm -rf "$DBZ_DIR"; mv "$tmp" "$DBZ_DIR"
  hl_say "installed $(ls "$DBZ_DIR"/*.jar | wc -l) jars"
}

write_config() {
  mkdir -p "$CONNECT_STATE"
  cat > "$CONNECT_CONF" <<CONF
# Written by deploy/local/connect.sh on every start; edit the script, not this file.
bootstrap.servers=127.0.0.1:$HL_KAFKA_PORT
group.id=hearlers-connect

listeners=http://127.0.0.1:$HL_CONNECT_PORT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$HL_CONNECT_PORT
rest.advertised.listener=http

key.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=false

# Connector configs, source offsets and statuses: compacted topics on the single broker.
config.storage.topic=_hl-connect-configs
config.storage.replication.factor=1
offset.storage.topic=_hl-connect-offsets
offset.storage.replication.factor=1
offset.storage.partitions=5
status.storage.topic=_hl-connect-status
status.storage.replication.factor=1
status.storage.partitions=1
offset.flush.interval.ms=5000

# Kafka unreachable for heartbeat.interval.ms makes the worker revoke its task; the task's stop
# then blocks on Kafka (its offset flush). With the default 5 s the worker abandons the task
# ("Graceful stop of task ... failed") and the abandoned Debezium thread keeps the replication
# slot active for its walsender, so the next task cannot stream ("replication slot ... is active
# for PID n") while it reports RUNNING: CDC stops after a Kafka freeze or restart. Wait for the
# stop instead (it completes once Kafka answers again), up to 10 min.
task.shutdown.graceful.timeout.ms=600000
# The revoked task is then "lost" to the group, and the leader (this worker itself) reassigns
# lost work only after scheduled.rebalance.max.delay.ms (default 5 min, meant for a worker that
# may come back): with one worker there is nobody to wait for, so CDC stood still 5 min after
# every Kafka freeze or restart.
scheduled.rebalance.max.delay.ms=0

# Let connectors create their topics (topic.creation.default.* in the connector config).
topic.creation.enable=true

plugin.path=$PLUGIN_PATH
# The Debezium jars carry ServiceLoader manifests: no reflective scan of every jar at start.
plugin.discovery=service_load
CONF
  cat > "$CONNECT_LOG4J" <<'L4J'
# Written by deploy/local/connect.sh. Everything goes to stdout, which connect.sh appends to connect.log.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %X{connector.context}%m (%c:%L)%n
log4j.logger.org.reflections=ERROR
log4j.logger.org.apache.kafka.clients.consumer.ConsumerConfig=WARN
log4j.logger.org.apache.kafka.clients.producer.ProducerConfig=WARN
log4j.logger.org.apache.kafka.clients.admin.AdminClientConfig=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
L4J
}

connect_cmd() {
  # shellcheck disable=SC2086
  printf '%s\0' java -Dhl.component=connect $CONNECT_HEAP \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$CONNECT_LOG4J" -Dkafka.logs.dir="$HL_LOG_DIR" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.connect.cli.ConnectDistributed "$CONNECT_CONF"
}

# Ready when the worker has joined its group and read the config topic: GET /connectors answers 200
# (it answers 5xx/409 before that) and the Debezium plugin is loaded.
ready() {
  curl -fsS -m 5 "$REST/connectors" >/dev/null 2>&1 \
    && curl -fsS -m 5 "$REST/connector-plugins" 2>/dev/null | grep -q 'io.debezium.connector.postgresql.PostgresConnector'
}

wait_ready() { # wait_ready [stop-on-timeout]
  hl_wait_started connect "$CONNECT_LOG" "$CONNECT_START_TIMEOUT" \
    "Kafka Connect REST not ready on $REST (or Debezium plugin not loaded)" "${1:-}"
}

start() {
  install
  if hl_pid_alive connect; then
    hl_say "already running (pid $(cat "$HL_RUN_DIR/connect.pid"))"
    wait_ready
    return 0
  fi
  bash "$HERE/kafka.sh" status >/dev/null 2>&1 \
    || hl_die "Kafka is not answering on 127.0.0.1:$HL_KAFKA_PORT: run deploy/local/kafka.sh start first"
  hl_port_open "$HL_CONNECT_PORT" && hl_die "127.0.0.1:$HL_CONNECT_PORT is taken by a process we did not start"
  hl_dirs
  write_config
  local -a argv; mapfile -d '' -t argv < <(connect_cmd)
  hl_start_bg connect "${argv[@]}"
  wait_ready stop-on-timeout
  hl_say "ready: $REST (pid $(cat "$HL_RUN_DIR/connect.pid"), log $CONNECT_LOG)"
}

stop() { hl_stop_component connect 60; }

status() {
  if ! hl_pid_alive connect; then hl_say "not running"; return 1; fi
  if ! ready; then hl_say "process up (pid $(cat "$HL_RUN_DIR/connect.pid")) but REST not ready on $REST"; return 1; fi
  hl_say "running (pid $(cat "$HL_RUN_DIR/connect.pid")) on $REST"
  local s
  if s=$(curl -fsS -m 5 "$REST/connectors/$CONNECTOR/status" 2>/dev/null); then
    jq -r '"\(.name): connector \(.connector.state)" , (.tasks[] | "  task \(.id): \(.state)")' <<<"$s" >&2
  else
    hl_say "$CONNECTOR: not registered"
  fi
}

# poll.interval.ms (Debezium default 500): how long the streaming loop sleeps when the WAL stream
# has nothing pending, and how long the task's poll sleeps between looks at an empty change queue;
# the two added ~0.5 s on average (up to ~1 s) between a commit and its Kafka record. At 20 ms an
# idle connector wakes 50 times a second per loop (negligible CPU; bench/README.md, bench-lag).
connector_config() {
  jq -n \
    --arg tables "$HL_CDC_TABLES" --arg port "$HL_PG_PORT" --arg db "$HL_PG_DB" --arg user "$HL_PG_USER" \
    --arg parts "$HL_CDC_PARTITIONS" '{
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    "tasks.max": "1",
    "plugin.name": "pgoutput",
    "database.hostname": "127.0.0.1",
    "database.port": $port,
    "database.user": $user,
    "database.dbname": $db,
    "topic.prefix": "cdc",
    "table.include.list": $tables,
    "publication.name": "hearlers_cdc",
    "publication.autocreate.mode": "filtered",
    "slot.name": "hearlers_cdc",
    "snapshot.mode": "initial",
    "decimal.handling.mode": "string",
    "time.precision.mode": "adaptive_time_microseconds",
    "tombstones.on.delete": "false",
    "poll.interval.ms": "20",
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "false",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
    "topic.creation.default.replication.factor": "1",
    "topic.creation.default.partitions": $parts
  }'
}

register() {
  ready || hl_die "Kafka Connect is not ready on $REST: run deploy/local/connect.sh start first"
  local body code out=$CONNECT_STATE/register-response.json deadline
  body=$(connector_config)
  mkdir -p "$CONNECT_STATE"
  local current
  current=$(curl -fsS -m 5 "$REST/connectors/$CONNECTOR/config" 2>/dev/null) || current='{}'
  if jq -e --argjson want "$body" '(del(.name)) == $want' <<<"$current" >/dev/null 2>&1; then
    code=unchanged
  else
    # PUT creates or updates; 409 means a rebalance is in progress, so retry for a while.
    deadline=$((SECONDS + 60))
    while :; do
      code=$(curl -sS -m 30 -o "$out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
               --data "$body" "$REST/connectors/$CONNECTOR/config") || code=000
      [[ $code == 200 || $code == 201 ]] && break
      if [[ $code != 409 && $code != 000 ]] || ((SECONDS >= deadline)); then
        hl_die "PUT /connectors/$CONNECTOR/config answered $code: $(cat "$out" 2>/dev/null)"
      fi
      sleep 1
    done
    sleep 2   # an updated connector restarts: do not read the status it had before the update
  fi
  case $code in 201) code=created ;; 200) code=updated ;; esac
  hl_say "$CONNECTOR config $code; tables: $HL_CDC_TABLES"
  # Wait until the connector and all its tasks are RUNNING. A task that FAILED is restarted (up to
  # HL_CONNECT_TASK_RESTARTS times, default 3): Debezium's task fails for good when PostgreSQL is
  # away longer than its retries (a PostgreSQL restart: "Connection refused"), and Connect never
  # restarts a failed task itself; its offsets are in Kafka, so the restarted task resumes where
  # the failed one stopped. A task that fails again after that is a real failure.
  local s cstate tstates restarts=0
  deadline=$((SECONDS + ${HL_CONNECT_REGISTER_TIMEOUT:-120}))
  while :; do
    s=$(curl -fsS -m 5 "$REST/connectors/$CONNECTOR/status" 2>/dev/null) || s=
    if [[ -n $s ]]; then
      cstate=$(jq -r '.connector.state' <<<"$s")
      tstates=$(jq -r '[.tasks[].state] | join(",")' <<<"$s")
      if [[ $cstate == FAILED || $tstates == *FAILED* ]]; then
        if ((restarts < ${HL_CONNECT_TASK_RESTARTS:-3})); then
          restarts=$((restarts + 1))
          hl_say "$CONNECTOR failed (connector $cstate, tasks $tstates): restart $restarts of the failed parts"
          curl -fsS -m 30 -o /dev/null -X POST \
            "$REST/connectors/$CONNECTOR/restart?includeTasks=true&onlyFailed=true" || true
          sleep 2
          continue
        fi
        jq -r '.connector.trace // empty, (.tasks[] | .trace // empty)' <<<"$s" >&2
        hl_die "$CONNECTOR failed (connector $cstate, tasks ${tstates:-none}) after $restarts restarts; trace above, see $CONNECT_LOG"
      fi
      if jq -e '.connector.state == "RUNNING" and (.tasks | length) > 0 and all(.tasks[]; .state == "RUNNING")' <<<"$s" >/dev/null; then
        hl_say "$CONNECTOR RUNNING (tasks: $tstates); topics cdc.<schema>.<table>"
        return 0
      fi
    fi
    if ((SECONDS >= deadline)); then
      [[ -n $s ]] && jq . <<<"$s" >&2
      hl_die "$CONNECTOR not RUNNING after ${HL_CONNECT_REGISTER_TIMEOUT:-120}s (connector ${cstate:-?}, tasks ${tstates:-none}); see $CONNECT_LOG"
    fi
    sleep 1
  done
}

# After a Kafka outage the Connect worker abandons the Debezium task whose producer was blocked
# ("Graceful stop of task … failed") while that task's thread keeps the PostgreSQL replication
# slot; the replacement task then fails forever with "replication slot … is active for PID n".
# Restarting the worker ends the abandoned thread; configuration and offsets live in Kafka, so
# capture resumes exactly where it stopped (at-least-once: a few changes may be sent twice).
restart() {
  stop
  start
  register
}

hl_run_verb "install start stop status register restart" "$@"
