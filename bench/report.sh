#!/usr/bin/env bash
# The benchmark report (`make bench-report`; not a test, not part of `make test`): installs what
# it needs, builds, starts a fresh stack of its own (HL_PROFILE, default lab4; stopped at the end
# only when this script started it), populates it, runs every benchmark next to its peer in the
# same run and writes docs/BENCHMARKS.md (bench/report_render.py).
#
# Usage: bench/report.sh [--scales=1,10] [--out=docs/BENCHMARKS.md] [--render-only=RUN_DIR]
#   --scales       populations at which end-to-end lag and resident memory are measured; the
#                  first is also where every other figure is taken. 10 means ten times the demo
#                  population (1,000 users + 20,000 messages per unit; ~15-30 min to populate on
#                  2 cores). --scales=1 skips the 10x phase.
#   --render-only  re-render the report from the raw results of an earlier run (RUN_DIR).
# Env: HL_PROFILE (lab4), BENCH_SECONDS (per measured run, default 15), BENCH_CMD_SECONDS (10),
#      BENCH_LAG_SECONDS (30), BENCH_CALLGRIND_REQUESTS (300), BENCH_POPULATE_CLIENTS (16),
#      BENCH_SINK_TIMEOUT (s the sink connector gets to catch up, default 240),
#      BENCH_SETTLE_MAX (s to wait for the projector to catch up before a phase, default 900),
#      BENCH_CPU_BEFORE (the commit whose servers make the cpu phase's before column, a6e5130).
# Raw results: $HL_STACK_DIR/bench/report-<utc time>/ (every tool's own output, CPU/RSS snapshots).
# Phases (each prints what it does): deps, build, stack, populate, command (command_bench vs
# pgbench), query (wrk on the query server vs bench/mongo_find_bench.c, CPU per process), perf
# (cpu-clock samples of query-server and FerretDB), callgrind (instructions per request), projector
# (bench/projector_peer_bench.sh vs mongo-kafka-connect), cpu (bench/cpu_bench.sh: CPU µs per
# command of every process, BENCH_CPU_BEFORE's servers then this tree's on the same stack), lag +
# RSS per scale, verify-all (the whole store against PostgreSQL at the last scale).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export HL_PROFILE=${HL_PROFILE:-lab4}
source "$ROOT/deploy/local/env.sh"
SCALES=1,10
OUT=$ROOT/docs/BENCHMARKS.md
RENDER_ONLY=
ARGS="$*"
for a in "$@"; do
  case $a in
    --scales=*) SCALES=${a#*=} ;;
    --out=*) OUT=${a#*=} ;;
    --render-only=*) RENDER_ONLY=${a#*=} ;;
    *) echo "usage: $0 [--scales=1,10] [--out=FILE] [--render-only=RUN_DIR]" >&2; exit 2 ;;
  esac
done
SECS=${BENCH_SECONDS:-15}
PY=$HL_CACHE_DIR/venv/bin/python
say() { printf '[report %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if [[ -n $RENDER_ONLY ]]; then
  HL_REPORT_RERENDERED=1 exec "$PY" "$HERE/report_render.py" "$RENDER_ONLY" "$OUT"
fi

tag=$(date -u +%Y%m%dT%H%M%SZ)
# Results go to $HL_STACK_DIR/bench/report-<time> once the stack is up (a fresh stack wipes
# $HL_STACK_DIR); until then to a temporary directory that is moved there.
RUN=$(mktemp -d "${TMPDIR:-/tmp}/hl-report-$tag.XXXXXX")
echo "make bench-report${ARGS:+ REPORT_ARGS=\"$ARGS\"}  (bench/report.sh $ARGS; HL_PROFILE=$HL_PROFILE)" >"$RUN/command.txt"
echo "$SCALES" >"$RUN/scales.txt"

# ---- deps: Debian packages the benchmarks use, the project's own deps (deps.sh) ----
say "deps"
bash "$ROOT/deploy/local/deps.sh" all >&2
need=()
for p in wrk valgrind linux-perf jq bc time maven postgresql-client-15; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  say "apt-get install ${need[*]}"
  [[ $(id -u) == 0 ]] || { echo "missing ${need[*]} and not root" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
"$PY" "$HERE/report_util.py" machine "$RUN/machine-before.json"

# ---- build: the servers, command-bench (as `make bench-command`), mongo-find-bench ----
say "build ($HL_BUILD_DIR)"
cmake_flags=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)   # also the cpu phase's before build
cmake -S "$ROOT" -B "$HL_BUILD_DIR" "${cmake_flags[@]}" >/dev/null
cmake --build "$HL_BUILD_DIR" >&2
cc -std=c11 -O2 -Wall -Wextra -Werror "$HERE/command_bench.c" -o "$HL_BUILD_DIR/command-bench" \
  $(pkg-config --cflags --libs libcurl libpq) -lpthread
cc -std=c11 -O2 -g -Wall -Wextra -Werror "$HERE/mongo_find_bench.c" -o "$HL_BUILD_DIR/mongo-find-bench" \
  $(pkg-config --cflags --libs libmongoc-1.0) -lpthread
LOADGEN=
for c in "$HL_BUILD_DIR/bench/hl-loadgen" "$HL_BUILD_DIR/hl-loadgen"; do [[ -x $c ]] && LOADGEN=$c && break; done

# ---- stack: fresh, our own ----
STARTED=0
if bash "$ROOT/deploy/local/stack.sh" status >/dev/null 2>&1; then
  say "stack of profile $HL_PROFILE already running: using it (not stopped at the end)"
else
  say "starting a fresh stack (profile $HL_PROFILE)"
  HL_FRESH=1 bash "$ROOT/deploy/local/stack.sh" up >&2
  STARTED=1
fi
cleanup() {
  if [[ $STARTED == 1 ]]; then say "stopping the stack"; bash "$ROOT/deploy/local/stack.sh" down >&2 || true; fi
}
trap cleanup EXIT
mkdir -p "$HL_STACK_DIR/bench"
mv "$RUN" "$HL_STACK_DIR/bench/report-$tag"
RUN=$HL_STACK_DIR/bench/report-$tag
say "raw results: $RUN"
COMMAND=http://127.0.0.1:$HL_COMMAND_PORT
QUERY=http://127.0.0.1:$HL_QUERY_PORT
PG=postgresql://$HL_PG_USER@127.0.0.1:$HL_PG_PORT/$HL_PG_DB
MONGO=mongodb://127.0.0.1:$HL_MONGO_PORT/
# hl-loadgen's view of this stack (populate, verify-all)
LOADGEN_STACK=(--command-url="$COMMAND" --query-url="$QUERY" --pg-url="$PG" --mongo-uri="$MONGO"
               --projector-url="http://127.0.0.1:$HL_PROJECTOR_PORT")
snap() { "$PY" "$HERE/report_util.py" snap "$RUN/$1.json"; }

# ---- versions ----
say "versions"
{
  echo "PostgreSQL=$(psql -qtAX "$PG" -c 'SHOW server_version' | awk '{print $1}')"
  echo "Kafka=$HL_KAFKA_VERSION"
  echo "Debezium=$(curl -fsS "http://127.0.0.1:$HL_CONNECT_PORT/connector-plugins" | jq -r '.[] | select(.class|test("PostgresConnector")) | .version')"
  echo "FerretDB=$("$PY" -c "import pymongo,sys; b=pymongo.MongoClient(sys.argv[1]).admin.command('buildInfo'); print(b.get('ferretdbVersion') or b.get('version'))" "$MONGO") (SQLite backend)"
  echo "Apicurio Registry=$HL_APICURIO_VERSION"
  echo "librdkafka=$(pkg-config --modversion rdkafka)"
  echo "libpq=$(pkg-config --modversion libpq)"
  echo "mongo-c-driver=$(pkg-config --modversion libmongoc-1.0)"
  echo "avro-c=$(pkg-config --modversion avro-c)"
  echo "civetweb=$(dpkg-query -W -f='${Version}' libcivetweb-dev 2>/dev/null)"
  echo "gcc=$(gcc -dumpfullversion)"
  echo "mongo-kafka-connect=${BENCH_SINK_VERSION:-2.0.1}"
  echo "Java=$(java -version 2>&1 | head -1 | sed 's/.*"\(.*\)".*/\1/')"
  echo "pgbench=$(pgbench --version | awk '{print $3}')"
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "valgrind=$(valgrind --version)"
  echo "perf=$(perf --version 2>/dev/null | awk '{print $3}')"
  if [[ -n ${LOADGEN:-} ]]; then echo "workload=hl-loadgen (${LOADGEN#"$HL_ROOT"/})"
  else echo "workload=bench/report_populate.py (hl-loadgen not built)"; fi
} >"$RUN/versions.txt"

populate() { # scale-to-add label
  local add=$1 label=$2 t0=$SECONDS rc=0
  say "populate: +$add x demo population (total ${label}x)"
  if [[ -n $LOADGEN ]]; then
    "$LOADGEN" "${LOADGEN_STACK[@]}" --verify-scope=run \
      --run-tag="r${tag,,}x${label//./}" \
      --scale="$add" --seed="$((10#${label//./} + 1))" --clients="${BENCH_POPULATE_CLIENTS:-16}" \
      --summary-json="$RUN/populate-$label.json" --no-progress >"$RUN/populate-$label.log" 2>&1 || rc=$?
  else
    "$PY" "$HERE/report_populate.py" "$COMMAND" --scale="$add" --clients="${BENCH_POPULATE_CLIENTS:-16}" \
      >"$RUN/populate-$label.json" 2>"$RUN/populate-$label.log" || rc=$?
  fi
  echo "$rc $((SECONDS - t0))" >"$RUN/populate-$label.rc"
  psql -qtAX "$PG" -c "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM messages), (SELECT count(*) FROM chat_rooms)" \
    >"$RUN/populate-$label.counts"
  say "populate ${label}x: rc $rc in $((SECONDS - t0)) s; PostgreSQL users|messages|rooms $(cat "$RUN/populate-$label.counts")"
}

# Wait until the projector has applied everything written so far (sum of its
# hl_projector_offsets_behind = 0), at most BENCH_SETTLE_MAX s (default 900); the time it took
# goes to settle-<label>.txt ("seconds behind-at-start").
settle() { # label
  local label=$1 t0=$SECONDS b b0="" deadline=$((SECONDS + ${BENCH_SETTLE_MAX:-900}))
  while :; do
    b=$(curl -fsS -m 5 "http://127.0.0.1:$HL_PROJECTOR_PORT/metrics" 2>/dev/null | awk '
      $1 == "hl_projector_offsets_behind" { t = $2; have = 1 } index($1, "hl_projector_offsets_behind{") == 1 { s += $2 }
      END { printf "%d\n", have ? t : s }') || b=-1
    [[ -z $b0 ]] && b0=$b
    (( b == 0 )) && break
    (( SECONDS >= deadline )) && { say "settle $label: still $b behind after $((SECONDS - t0)) s; going on"; break; }
    sleep 2
  done
  echo "$((SECONDS - t0)) $b0" >"$RUN/settle-$label.txt"
  say "settle $label: projector caught up ($b0 inputs behind at start) in $((SECONDS - t0)) s"
}

lag_rss() { # label
  local label=$1
  settle "lag-$label"
  say "lag + RSS at ${label}x"
  snap "lag-$label-a"
  "$PY" "$HERE/e2e_lag.py" "$COMMAND" "$QUERY" --writers 16 --readers 2 \
    --duration "${BENCH_LAG_SECONDS:-30}" >"$RUN/lag-$label.txt" 2>"$RUN/lag-$label.log" || true
  snap "lag-$label-b"
  cat "$RUN/lag-$label.txt" >&2
  "$PY" "$HERE/report_util.py" machine "$RUN/machine-after.json"
  "$PY" "$HERE/report_render.py" "$RUN" "$OUT" || true   # a report after every scale
}

IFS=, read -r -a scale_list <<<"$SCALES"
first=${scale_list[0]}
populate "$first" "$first"
settle "populate-$first"

# ---- command path vs pgbench ----
say "command bench vs pgbench"
snap cmd-a
"$HL_BUILD_DIR/command-bench" --url="$COMMAND" --pg="$PG" --seconds="${BENCH_CMD_SECONDS:-10}" \
  --clients=1,8,32 >"$RUN/command.txt.out" 2>"$RUN/command.log" || say "command bench failed (see $RUN/command.log)"
snap cmd-b
cat "$RUN/command.txt.out" >&2

# ---- query server vs mongo-c-driver find loop ----
settle command
say "query bench: seeding one user (20 rooms, 60 messages)"
"$PY" "$HERE/query_seed.py" "$COMMAND" "$QUERY" --rooms 20 --messages 60 >"$RUN/seed.json"
user=$(jq -r .user_id "$RUN/seed.json"); token=$(jq -r .token "$RUN/seed.json"); room=$(jq -r .room_id "$RUN/seed.json")
sleep 10
"$PY" - "$MONGO" "$HL_MONGO_DB" >"$RUN/store-counts.json" <<'PY'
import json, sys, pymongo
db = pymongo.MongoClient(sys.argv[1])[sys.argv[2]]
print(json.dumps({c: db[c].count_documents({}) for c in ("user_profiles", "inbox", "messages", "chat_rooms", "room_members")}))
PY
routes=("profile|/v1/users/$user|" "chat-rooms|/v1/chat-rooms|auth" "messages|/v1/chat-rooms/$room/messages|auth")
for r in "${routes[@]}"; do
  IFS='|' read -r name path auth <<<"$r"
  hdr=(); [[ $auth == auth ]] && hdr=(-H "Authorization: Bearer $token")
  curl -fsS -o /dev/null "${hdr[@]}" "$QUERY$path"
  say "query: wrk $name (32 connections, ${SECS}s)"
  snap "q-$name-http-a"
  /usr/bin/time -f '%U %S %M' -o "$RUN/q-$name-http.time" \
    wrk -t2 -c32 -d"${SECS}s" --timeout 10s --latency "${hdr[@]}" "$QUERY$path" >"$RUN/q-$name-http.txt"
  snap "q-$name-http-b"
  for mode in steady cold; do
    [[ $name == profile && $mode == cold ]] && continue
    say "query: mongo_find_bench $name $mode (32 threads, ${SECS}s)"
    snap "q-$name-$mode-a"
    /usr/bin/time -f '%U %S %M' -o "$RUN/q-$name-$mode.time" \
      "$HL_BUILD_DIR/mongo-find-bench" --mongo-uri="$MONGO" --db="$HL_MONGO_DB" --route="$name" \
      --mode="$mode" --user="$user" --room="$room" --threads=32 --seconds="$SECS" \
      >"$RUN/q-$name-$mode.txt" 2>"$RUN/q-$name-$mode.log" || true
    snap "q-$name-$mode-b"
  done
done

# ---- perf: where the CPU goes while wrk drives a route (software cpu-clock samples) ----
if perf record -e cpu-clock -o "$RUN/perf-probe.data" -- true >/dev/null 2>&1; then
  qs_pid=$(cat "$HL_RUN_DIR/query-server.pid"); fd_pid=$(cat "$HL_RUN_DIR/ferretdb.pid")
  for r in "${routes[@]:0:2}"; do
    IFS='|' read -r name path auth <<<"$r"
    hdr=(); [[ $auth == auth ]] && hdr=(-H "Authorization: Bearer $token")
    say "perf: $name (10 s, query-server pid $qs_pid, FerretDB pid $fd_pid)"
    wrk -t2 -c32 -d12s "${hdr[@]}" "$QUERY$path" >/dev/null &
    wrk_pid=$!
    sleep 1
    perf record -e cpu-clock -F 499 -p "$qs_pid" -o "$RUN/perf-$name-qs.data" -- sleep 10 >/dev/null 2>&1 &
    p1=$!
    perf record -e cpu-clock -F 499 -p "$fd_pid" -o "$RUN/perf-$name-fd.data" -- sleep 10 >/dev/null 2>&1 || true
    wait "$p1" || true; wait "$wrk_pid" || true
    perf report -i "$RUN/perf-$name-qs.data" --no-children --stdio --sort dso,sym 2>/dev/null \
      | grep -E '^ +[0-9.]+%' | head -25 >"$RUN/perf-$name-qs.txt" || true
    perf report -i "$RUN/perf-$name-qs.data" --no-children --stdio --sort dso 2>/dev/null \
      | grep -E '^ +[0-9.]+%' | head -12 >"$RUN/perf-$name-qs-dso.txt" || true
    perf report -i "$RUN/perf-$name-fd.data" --no-children --stdio --sort sym 2>/dev/null \
      | grep -E '^ +[0-9.]+%' | head -25 >"$RUN/perf-$name-fd.txt" || true
    rm -f "$RUN/perf-$name-qs.data" "$RUN/perf-$name-fd.data"
  done
else
  echo "perf record does not work here" >"$RUN/perf-unavailable.txt"
fi
perf stat -e instructions true >"$RUN/perf-stat-probe.txt" 2>&1 || true

# ---- callgrind: instructions per request, query server vs the find loop (GET profile) ----
N=${BENCH_CALLGRIND_REQUESTS:-300}
CG_PORT=$((HL_QUERY_PORT + 200))
say "callgrind: query-server on :$CG_PORT, $N x GET /v1/users/{id}"
mapfile -t qs_env < <(tr '\0' '\n' <"/proc/$(cat "$HL_RUN_DIR/query-server.pid")/environ" | grep '^HL_')
env -i PATH="$PATH" HOME="${HOME:-/root}" "${qs_env[@]}" HL_QUERY_LISTEN="127.0.0.1:$CG_PORT" HL_QUERY_THREADS=4 \
  setsid valgrind --tool=callgrind --callgrind-out-file="$RUN/cg-qs.out" "$HL_BUILD_DIR/query-server/query-server" \
  >"$RUN/cg-qs.log" 2>&1 &
cg_pid=$!
for _ in $(seq 240); do curl -fsS -o /dev/null "http://127.0.0.1:$CG_PORT/healthz" 2>/dev/null && break; sleep 0.5; done
curl -fsS "http://127.0.0.1:$CG_PORT/v1/users/$user?w=[1-20]" >/dev/null || true   # warm up
callgrind_control -z "$cg_pid" >/dev/null 2>&1 || true
t0=$(date +%s.%N)
curl -fsS "http://127.0.0.1:$CG_PORT/v1/users/$user?n=[1-$N]" >/dev/null || true
echo "$(echo "$(date +%s.%N) - $t0" | bc -l)" >"$RUN/cg-qs.seconds"
callgrind_control -d "$cg_pid" >/dev/null 2>&1 || true
sleep 1
kill -TERM -- "-$cg_pid" 2>/dev/null || kill -TERM "$cg_pid" 2>/dev/null || true
wait "$cg_pid" 2>/dev/null || true
dump=$(ls -t "$RUN"/cg-qs.out* 2>/dev/null | grep -v '\.out$' | head -1 || true)
[[ -n $dump ]] || dump=$RUN/cg-qs.out
callgrind_annotate --threshold=100 "$dump" 2>/dev/null | head -400 >"$RUN/cg-qs.txt" || true
callgrind_annotate --threshold=100 --inclusive=yes "$dump" 2>/dev/null | head -400 >"$RUN/cg-qs-incl.txt" || true
for n in 1 $((N + 1)); do
  valgrind --tool=callgrind --callgrind-out-file="$RUN/cg-find-$n.out" "$HL_BUILD_DIR/mongo-find-bench" \
    --mongo-uri="$MONGO" --db="$HL_MONGO_DB" --route=profile --user="$user" --threads=1 --requests="$n" \
    >"$RUN/cg-find-$n.log" 2>&1 || true
done
callgrind_annotate --threshold=100 "$RUN/cg-find-$((N + 1)).out" 2>/dev/null | head -400 >"$RUN/cg-find.txt" || true
callgrind_annotate --threshold=100 --inclusive=yes "$RUN/cg-find-$((N + 1)).out" 2>/dev/null | head -400 >"$RUN/cg-find-incl.txt" || true
echo "$N" >"$RUN/cg-requests.txt"

# ---- projector vs mongo-kafka-connect (same topic, same store) ----
settle query
say "projector vs mongo-kafka-connect"
snap proj-a
BENCH_JSON=$RUN/projector-peer.json BENCH_TIMEOUT=${BENCH_SINK_TIMEOUT:-240} bash "$HERE/projector_peer_bench.sh" >"$RUN/projector-peer.txt" 2>"$RUN/projector-peer.log" \
  || say "projector peer bench failed (see $RUN/projector-peer.log)"
snap proj-b
cat "$RUN/projector-peer.txt" >&2

# ---- CPU per command of every process (bench/cpu_bench.sh): the servers of commit
# BENCH_CPU_BEFORE (default a6e5130: main before issue 15's changes, with the harness and the
# store counters), built in $HL_CACHE_DIR/cpu-before-<commit>, then this tree's, one after the
# other on this stack, so both columns share machine, stack and data. Without that commit (a
# shallow clone) or when it does not build, the before column is the kept
# bench/results/cpu-before.json (another day's run: its note says which) ----
settle projector
say "cpu: CPU per command, process by process (bench/cpu_bench.sh)"
cpu_servers=(command-server projector query-server stream-listener)
before_rev=${BENCH_CPU_BEFORE:-a6e5130}
before_dir=$HL_CACHE_DIR/cpu-before-$before_rev
build_before() { # configured once; ninja then finishes (or no-ops) an earlier run's build
  git -C "$ROOT" cat-file -e "$before_rev^{commit}" 2>/dev/null || return 1
  say "cpu: building $before_rev's servers in $before_dir"
  if [[ ! -f $before_dir/build/build.ninja ]]; then
    rm -rf "$before_dir" && mkdir -p "$before_dir/src" &&
      git -C "$ROOT" archive "$before_rev" | tar -x -C "$before_dir/src" &&
      cmake -S "$before_dir/src" -B "$before_dir/build" "${cmake_flags[@]}" >"$RUN/cpu-before-build.log" 2>&1 ||
      return 1
  fi
  cmake --build "$before_dir/build" --target "${cpu_servers[@]}" >>"$RUN/cpu-before-build.log" 2>&1
}
restart_servers() { # build dir
  bash "$ROOT/deploy/local/servers.sh" stop "${cpu_servers[@]}" >&2
  HL_BUILD_DIR=$1 bash "$ROOT/deploy/local/servers.sh" start "${cpu_servers[@]}" >&2
}
if build_before; then
  say "cpu: before = $before_rev's servers on this stack"
  restart_servers "$before_dir/build"
  settle cpu-before
  CPU_BEFORE="$RUN/cpu-before.json" CPU_BENCH_ARGS=--label=before \
    CPU_NOTE="$before_rev's own build, in this run, on the same stack just before the after column" \
    bash "$HERE/cpu_bench.sh" >"$RUN/cpu-before.txt" 2>"$RUN/cpu-before.log" ||
    say "cpu bench of $before_rev failed (see $RUN/cpu-before.log)"
  restart_servers "$HL_BUILD_DIR"
  settle cpu-after
fi
if [[ ! -s $RUN/cpu-before.json ]]; then
  say "cpu: no before run of $before_rev (see $RUN/cpu-before-build.log); before = the kept bench/results/cpu-before.json"
  cp "$ROOT/bench/results/cpu-before.json" "$RUN/cpu-before.json"
fi
CPU_BEFORE="$RUN/cpu-before.json" CPU_OUT="$RUN/cpu.json" \
  CPU_BENCH_ARGS=--label=after CPU_NOTE="make bench-report on $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
  bash "$HERE/cpu_bench.sh" >"$RUN/cpu.txt" 2>"$RUN/cpu.log" || say "cpu bench failed (see $RUN/cpu.log)"
cat "$RUN/cpu.txt" >&2

# ---- end-to-end lag + RSS, per scale ----
lag_rss "$first"
prev=$first
for s in "${scale_list[@]:1}"; do
  populate "$(echo "$s - $prev" | bc)" "$s"
  prev=$s
  lag_rss "$s"
done

# ---- the whole store against PostgreSQL at the last scale (every user, room, request and
# event, the benchmarks' own included), not only each populate run's ----
settle verify-all
say "verify-all: hl-loadgen --verify-only --verify-scope=all"
if [[ -n $LOADGEN ]]; then
  t0=$SECONDS; rc=0
  "$LOADGEN" "${LOADGEN_STACK[@]}" --verify-only --verify-scope=all \
    --summary-json="$RUN/verify-all.json" --no-progress >"$RUN/verify-all.log" 2>&1 || rc=$?
  echo "$rc $((SECONDS - t0))" >"$RUN/verify-all.rc"
  say "verify-all: rc $rc in $((SECONDS - t0)) s"
fi

"$PY" "$HERE/report_util.py" machine "$RUN/machine-after.json"
say "rendering $OUT"
"$PY" "$HERE/report_render.py" "$RUN" "$OUT"
say "done: $OUT (raw results $RUN)"
