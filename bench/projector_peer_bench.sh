#!/usr/bin/env bash
# Projector versus its peer, the MongoDB Kafka sink connector (benchmark, not a test), against a
# running stack (HL_PROFILE=dev by default; bench/report.sh runs it on its own stack).
#
# Both consume the same Debezium topic (BENCH_TOPIC, default cdc.public.messages) from offset 0 up
# to the end offsets it has when the bench starts, into the same FerretDB, each into a database of
# its own (dropped at the end unless BENCH_KEEP=1), one after the other so each has the machine:
#   ours  `projector replay <topic>:<partition>:<end> ...` (the daemon's decode → plan → ordered
#         bulk path, 500 inputs per bulk, one consumer) into hl_peer_pj_<time>.messages
#   peer  org.mongodb.kafka:mongo-kafka-connect (Maven Central, the -all jar, installed here into
#         $HL_CACHE_DIR/connect-plugins-mongo-sink) in a second Kafka Connect worker of this
#         script's own (port BENCH_SINK_PORT, default HL_BENCH_SINK_PORT of env.sh; own group and storage
#         topics), connector MongoSinkConnector with
#         change.data.capture.handler=...cdc.debezium.rdbms.postgres.PostgresHandler, tasks.max 1,
#         into hl_peer_sink_<time>.messages
# Each side: records (sum of end offsets), time to the last document, records/s; then the
# output is checked against PostgreSQL: document count equals the rows of the table, and
# BENCH_SAMPLE (default 20) random documents of each side match their PostgreSQL row field by
# field (room_id, seq, message_id, sender_id, body). A side still short of the count after BENCH_TIMEOUT s (default 900) is
# reported with what it reached. Prints a table; also $HL_STACK_DIR/bench/projector-peer-<time>.txt
# and a JSON summary (BENCH_JSON=file).
# Env: BENCH_SINK_VERSION (default 2.0.1), BENCH_SINK_TASKS (default 1), BENCH_SINK_HEAP.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
TOPIC=${BENCH_TOPIC:-cdc.public.messages}
TABLE=${TOPIC##*.}
SINK_VERSION=${BENCH_SINK_VERSION:-2.0.1}
SINK_PORT=${BENCH_SINK_PORT:-$HL_BENCH_SINK_PORT}
SINK_TASKS=${BENCH_SINK_TASKS:-1}
SINK_HEAP=${BENCH_SINK_HEAP:--Xms256m -Xmx1g}
TIMEOUT=${BENCH_TIMEOUT:-900}
SAMPLE=${BENCH_SAMPLE:-20}
BIN=$HL_BUILD_DIR/projector/projector
PY=${HL_CACHE_DIR}/venv/bin/python
[[ -x $PY ]] || PY=python3
[[ -x $BIN ]] || { echo "no $BIN: make build" >&2; exit 1; }
tag=$(date -u +%Y%m%dT%H%M%SZ)
ltag=${tag,,}
db_ours=hl_peer_pj_$ltag
db_sink=hl_peer_sink_$ltag
mongo_uri=mongodb://127.0.0.1:$HL_MONGO_PORT/
pg_url=postgresql://$HL_PG_USER@127.0.0.1:$HL_PG_PORT/$HL_PG_DB
out_dir=$HL_STACK_DIR/bench/peer-$tag; mkdir -p "$out_dir"
report=$HL_STACK_DIR/bench/projector-peer-$tag.txt
say() { printf '[peer-bench] %s\n' "$*" >&2; }

# ---- install the sink connector (Maven Central, ordinary mvn client) ----
PLUGIN_ROOT=$HL_CACHE_DIR/connect-plugins-mongo-sink
PLUGIN_DIR=$PLUGIN_ROOT/mongo-kafka-connect
JAR=$PLUGIN_DIR/mongo-kafka-connect-$SINK_VERSION-all.jar
if [[ ! -f $JAR ]]; then
  command -v mvn >/dev/null || { say "installing maven (Debian)"; apt-get install -y -q maven >&2; }
  say "downloading org.mongodb.kafka:mongo-kafka-connect:$SINK_VERSION:all (Maven Central)"
  rm -rf "$PLUGIN_DIR"; mkdir -p "$PLUGIN_DIR"
  mvn -q -B -Dstyle.color=never dependency:copy \
    -Dartifact="org.mongodb.kafka:mongo-kafka-connect:$SINK_VERSION:jar:all" \
    -DoutputDirectory="$PLUGIN_DIR" >"$out_dir/mvn.log" 2>&1 \
    || { cat "$out_dir/mvn.log" >&2; exit 1; }
fi
[[ -f $JAR ]] || { say "no $JAR after mvn"; exit 1; }

# ---- the topic's end offsets now: both sides stop there ----
read -r ends records < <("$PY" - "127.0.0.1:$HL_KAFKA_PORT" "$TOPIC" <<'PY'
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "hl-peer-bench-offsets"})
md = c.list_topics(sys.argv[2], timeout=10).topics[sys.argv[2]]
ends, total = [], 0
for p in sorted(md.partitions):
    lo, hi = c.get_watermark_offsets(TopicPartition(sys.argv[2], p), timeout=10)
    ends.append(f"{sys.argv[2]}:{p}:{hi}")
    total += hi - lo
c.close()
print(",".join(ends), total)
PY
)
rows=$(psql -qtAX "$pg_url" -c "SELECT count(*) FROM $TABLE")
say "$TOPIC: $records records up to $ends; $rows rows in PostgreSQL $TABLE"

cpu_s() { # pid -> CPU seconds (user + system) so far
  awk -v t="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / t}' "/proc/$1/stat" 2>/dev/null || echo 0
}
FD_PID=$(cat "$HL_RUN_DIR/ferretdb.pid" 2>/dev/null || echo 0)
count_docs() { # db -> document count of <db>.messages
  "$PY" -c "import pymongo,sys; print(pymongo.MongoClient(sys.argv[1])[sys.argv[2]]['$TABLE'].count_documents({}))" \
    "$mongo_uri" "$1" 2>/dev/null || echo 0
}

# ---- ours: projector replay of that topic only ----
say "ours: projector replay into $db_ours"
t0=$(date +%s.%N)
IFS=, read -r -a endv <<<"$ends"
fd0=$(cpu_s "$FD_PID")
/usr/bin/time -f '%U %S %M' -o "$out_dir/ours.time" "$BIN" --kafka-brokers="127.0.0.1:$HL_KAFKA_PORT" --mongo-uri="$mongo_uri" --mongo-db="$db_ours" \
  --schema-registry-url="$HL_REGISTRY_URL" --log-level=warn replay "${endv[@]}" \
  >"$out_dir/ours.out" 2>"$out_dir/ours.log" || { tail -20 "$out_dir/ours.log" >&2; exit 1; }
t1=$(date +%s.%N)
fd1=$(cpu_s "$FD_PID")
read -r ou os orss <"$out_dir/ours.time"
ours_cpu=$(echo "$ou + $os" | bc -l); ours_fd_cpu=$(echo "$fd1 - $fd0" | bc -l)
ours_s=$(echo "$t1 - $t0" | bc -l)
ours_line=$(grep '^replay:' "$out_dir/ours.log" | tail -1 || true)
say "ours: $ours_line (wall $ours_s s)"

# ---- peer: a Connect worker of our own with the sink plugin ----
CONF=$out_dir/connect-sink.properties
cat >"$CONF" <<CONF
bootstrap.servers=127.0.0.1:$HL_KAFKA_PORT
group.id=hl-peer-sink-$ltag
listeners=http://127.0.0.1:$SINK_PORT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$SINK_PORT
key.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=false
config.storage.topic=_hl-peer-sink-$ltag-configs
config.storage.replication.factor=1
offset.storage.topic=_hl-peer-sink-$ltag-offsets
offset.storage.replication.factor=1
offset.storage.partitions=1
status.storage.topic=_hl-peer-sink-$ltag-status
status.storage.replication.factor=1
status.storage.partitions=1
offset.flush.interval.ms=1000
plugin.path=$PLUGIN_ROOT
plugin.discovery=hybrid_warn
CONF
cat >"$out_dir/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c:%L)%n
log4j.logger.org.reflections=ERROR
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.mongodb.driver=WARN
L4J
if (exec 3<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null; then say "port $SINK_PORT is taken"; exit 1; fi
# shellcheck disable=SC2086
setsid java $SINK_HEAP -XX:+UseG1GC -Djava.awt.headless=true \
  -Dlog4j.configuration="file:$out_dir/log4j.properties" \
  -cp "$HL_CACHE_DIR/kafka/libs/*" org.apache.kafka.connect.cli.ConnectDistributed "$CONF" \
  >"$out_dir/connect-sink.log" 2>&1 </dev/null &
worker=$!
cleanup() {
  kill -TERM -- "-$worker" 2>/dev/null || kill -TERM "$worker" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$worker" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$worker" 2>/dev/null || true
  if [[ ${BENCH_KEEP:-0} != 1 ]]; then
    "$PY" -c "import pymongo,sys; c=pymongo.MongoClient(sys.argv[1]); [c.drop_database(d) for d in sys.argv[2:]]" \
      "$mongo_uri" "$db_ours" "$db_sink" 2>/dev/null || true
  fi
}
trap cleanup EXIT
REST=http://127.0.0.1:$SINK_PORT
CONN=hl-peer-sink-$ltag   # the sink consumer group is connect-<name>: a new name starts at offset 0
for _ in $(seq 240); do
  curl -fsS -m 5 "$REST/connector-plugins" 2>/dev/null | grep -q MongoSinkConnector && break
  kill -0 "$worker" 2>/dev/null || { tail -30 "$out_dir/connect-sink.log" >&2; exit 1; }
  sleep 0.5
done
curl -fsS -m 5 "$REST/connector-plugins" | grep -q MongoSinkConnector \
  || { say "sink plugin not loaded; see $out_dir/connect-sink.log"; exit 1; }
sink_rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$worker/status" 2>/dev/null || echo 0; }
say "peer: Connect worker ready on $REST (pid $worker); MongoSinkConnector into $db_sink"
body=$(jq -n --arg topic "$TOPIC" --arg uri "$mongo_uri" --arg db "$db_sink" --arg coll "$TABLE" \
  --arg tasks "$SINK_TASKS" '{
  "connector.class": "com.mongodb.kafka.connect.MongoSinkConnector",
  "tasks.max": $tasks, "topics": $topic, "connection.uri": $uri,
  "database": $db, "collection": $coll,
  "change.data.capture.handler": "com.mongodb.kafka.connect.sink.cdc.debezium.rdbms.postgres.PostgresHandler",
  "key.converter": "org.apache.kafka.connect.json.JsonConverter", "key.converter.schemas.enable": "false",
  "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
  "consumer.override.auto.offset.reset": "earliest",
  "errors.tolerance": "none"}')
t0=$(date +%s.%N)
fd0=$(cpu_s "$FD_PID"); w0=$(cpu_s "$worker")
code=$(curl -sS -m 30 -o "$out_dir/sink-put.json" -w '%{http_code}' -X PUT \
  -H 'Content-Type: application/json' --data "$body" "$REST/connectors/$CONN/config")
[[ $code == 20? ]] || { say "PUT connector answered $code: $(cat "$out_dir/sink-put.json")"; exit 1; }
first=""; n=0; deadline=$(( $(date +%s) + TIMEOUT )); peak_rss=0
while :; do
  n=$(count_docs "$db_sink")
  [[ -z $first && $n -gt 0 ]] && first=$(date +%s.%N)
  r=$(sink_rss_kb); (( r > peak_rss )) && peak_rss=$r
  (( n >= rows )) && break
  st=$(curl -fsS -m 5 "$REST/connectors/$CONN/status" 2>/dev/null || true)
  if grep -q '"FAILED"' <<<"$st"; then
    jq -r '.tasks[]?.trace // empty' <<<"$st" | head -30 >&2; say "sink task FAILED"; break
  fi
  (( $(date +%s) >= deadline )) && { say "sink timed out at $n of $rows documents"; break; }
  sleep 1
done
t1=$(date +%s.%N)
fd1=$(cpu_s "$FD_PID"); w1=$(cpu_s "$worker")
sink_cpu=$(echo "$w1 - $w0" | bc -l); sink_fd_cpu=$(echo "$fd1 - $fd0" | bc -l)
sink_s=$(echo "$t1 - $t0" | bc -l)
sink_active=$( [[ -n $first ]] && echo "$t1 - $first" | bc -l || echo 0)
sink_n=$n
say "peer: $sink_n documents in $sink_s s ($sink_active s from the first document)"

# ---- check both outputs against PostgreSQL ----
# Every row of the table (room_id, seq, message_id, sender_id, body); BENCH_SAMPLE documents of
# each side's collection must match their row field by field; a side's document count must equal
# the rows (else it is reported incomplete). Also FerretDB's explain of each side's write filter.
psql -qtAX "$pg_url" -F $'\x1f' -R $'\x1e' -c "SELECT room_id, seq, message_id, sender_id, body FROM $TABLE" >"$out_dir/rows.bin"
check=$("$PY" - "$mongo_uri" "$db_ours" "$db_sink" "$TABLE" "$out_dir/rows.bin" "$SAMPLE" <<'PY'
import json, random, sys, pymongo
uri, ours, sink, coll, rows_file, nsample = sys.argv[1:7]
c = pymongo.MongoClient(uri)
rows = {}
for rec in open(rows_file, encoding="utf-8").read().split("\x1e"):
    f = rec.split("\x1f")
    if len(f) == 5:
        rows[f[2].strip()] = f
res = {}
for side, db in (("ours", ours), ("sink", sink)):
    col = c[db][coll]
    docs = list(col.find().limit(2000))
    pick = random.Random(1).sample(docs, min(int(nsample), len(docs)))
    ok, bad = 0, []
    for d in pick:
        if isinstance(d.get("_id"), dict):  # the sink moves the key fields into _id
            d = {**d["_id"], **d}
        mid = str(d.get("message_id", d.get("_id")))
        r = rows.get(mid)
        if r and str(d.get("room_id")) == r[0].strip() and int(d.get("seq", -1)) == int(r[1]) \
                and str(d.get("sender_id")) == r[3] and d.get("body") == r[4]:
            ok += 1
        else:
            bad.append(mid)
    one = pick[0] if pick else None
    try:
        filt = ({"_id": one["_id"]} if one else {})
        ex = c[db].command("explain", {"find": coll, "filter": filt}, verbosity="queryPlanner")
        pushdown = {"filterPushdown": ex.get("filterPushdown"),
                    "plan": " ".join(ex.get("queryPlanner", {}).get("Plan", []))}
    except Exception as e:  # noqa: BLE001 - explain is informative only
        pushdown = {"error": str(e)}
    res[side] = {"count": col.count_documents({}), "sample_ok": ok, "sample": len(pick),
                 "bad": bad[:3], "id_filter_pushdown": pushdown,
                 "example": json.loads(json.dumps(one, default=str)) if one else None}
print(json.dumps(res))
PY
)
ours_applied=$(sed -n 's/^replay: \([0-9]*\) inputs.*/\1/p' <<<"$ours_line")
ours_ms=$(sed -n 's/.* in \([0-9]*\) ms.*/\1/p' <<<"$ours_line")
"$PY" - "$records" "$rows" "$ours_applied" "$ours_ms" "$ours_s" "$sink_n" "$sink_s" "$sink_active" \
  "$check" "$SINK_VERSION" "$SINK_TASKS" "$peak_rss" "$TOPIC" "${BENCH_JSON:-}" \
  "$ours_cpu" "$ours_fd_cpu" "$orss" "$sink_cpu" "$sink_fd_cpu" <<'PY' | tee "$report"
import json, sys
(records, rows, ours_n, ours_ms, ours_wall, sink_n, sink_wall, sink_active, check, ver, tasks,
 rss, topic, out, ours_cpu, ours_fd_cpu, ours_rss, sink_cpu, sink_fd_cpu) = sys.argv[1:20]
records, rows = int(records), int(rows)
chk = json.loads(check)
ours_s = int(ours_ms) / 1000 if ours_ms else float(ours_wall)
sink_done = chk["sink"]["count"] >= rows
res = {
    "topic": topic, "records": records, "rows": rows, "sink_version": ver, "sink_tasks": int(tasks),
    "ours": {"records": int(ours_n or 0), "seconds": ours_s, "wall_seconds": float(ours_wall),
             "records_per_s": records / ours_s if ours_s else 0, "cpu_s": float(ours_cpu),
             "ferretdb_cpu_s": float(ours_fd_cpu), "peak_rss_kb": int(ours_rss), **chk["ours"]},
    "sink": {"records": records if sink_done else None, "seconds": float(sink_wall),
             "active_seconds": float(sink_active), "complete": sink_done,
             "records_per_s": (records / float(sink_wall)) if sink_done else
             chk["sink"]["count"] / float(sink_wall), "peak_rss_kb": int(rss), "cpu_s": float(sink_cpu),
             "ferretdb_cpu_s": float(sink_fd_cpu), **chk["sink"]},
}
print(f"topic {topic}: {records} records from offset 0, {rows} rows in PostgreSQL")
print(f"{'side':<44} {'records':>8} {'seconds':>8} {'records/s':>10} {'docs':>7} {'sample ok':>10} {'cpu s':>6} {'ferretdb cpu s':>14}")
o, s = res["ours"], res["sink"]
print(f"{'projector replay (ours)':<44} {o['records']:>8} {o['seconds']:>8.1f} {o['records_per_s']:>10.0f} "
      f"{o['count']:>7} {o['sample_ok']:>6}/{o['sample']:<3} {o['cpu_s']:>6.1f} {o['ferretdb_cpu_s']:>14.1f}")
print(f"{'mongo-kafka-connect ' + ver + ' PostgresHandler':<44} {records if sink_done else '-':>8} "
      f"{s['seconds']:>8.1f} {s['records_per_s']:>10.0f} {s['count']:>7} {s['sample_ok']:>6}/{s['sample']:<3} {s['cpu_s']:>6.1f} {s['ferretdb_cpu_s']:>14.1f}")
if out:
    json.dump(res, open(out, "w"), indent=1)
PY
