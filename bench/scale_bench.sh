#!/usr/bin/env bash
# Scale-out benchmark (issue 16; not a test), `make bench-scale`: against a running stack
# (HL_PROFILE, default dev), in one run, side by side:
#   projector  inputs/s of 1 and of 2 projector daemons (one consumer group) catching up on the
#              same backlog: every input topic from offset 0 (the stack's whole history), each
#              run in its own consumer group and its own database (hl_scale_<time>_<n>, dropped
#              at the end); a run ends when every member reports 0 offsets behind (or after
#              BENCH_SECONDS, default 300). CPU seconds of each process from /proc.
#   commands   commands/s of bench/command_bench (register, BENCH_CLIENTS clients in all,
#              default 8) against 1 command server, then split over 2 (the stack's and a second
#              instance, servers.sh start command-server-2), for BENCH_CMD_SECONDS (default
#              10); CPU seconds of each command server.
#   lag        e2e lag (bench/e2e_lag.py: BENCH_LAG_WRITERS writers, default 8, for
#              BENCH_LAG_SECONDS, default 20, through the gateway): a message answered ->
#              visible on the query side, p50/p99, and messages/s answered, with the stack's
#              projector alone, then with a second one in its group (servers.sh start
#              projector-2, once it holds partitions); CPU seconds of each projector.
#   reads      GET /v1/users/{id} through a gateway of this bench (wrk -c32, BENCH_READ_SECONDS,
#              default 10) whose query upstreams are the stack's query server, then it and a
#              second one (servers.sh start query-server-2); CPU seconds of each query server.
# BENCH_PARTS="lag reads" (any of projector commands lag reads) runs only those.
# On 2 cores a second process cannot double anything: the point is that nothing gets slower and
# that both processes work. Report also in $HL_STACK_DIR/bench/scale-<utc time>.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
MAX_S=${BENCH_SECONDS:-300}
CMD_S=${BENCH_CMD_SECONDS:-10}
CLIENTS=${BENCH_CLIENTS:-8}
BIN=$HL_BUILD_DIR/projector/projector
CB=$HL_BUILD_DIR/command-bench
SERVERS=$HERE/../deploy/local/servers.sh
GATEWAY=$HERE/../deploy/local/gateway.sh
LAG_S=${BENCH_LAG_SECONDS:-20}
LAG_W=${BENCH_LAG_WRITERS:-8}
READ_S=${BENCH_READ_SECONDS:-10}
PY=${HL_CACHE_DIR}/venv/bin/python
[[ -x $PY ]] || PY=python3
[[ -x $BIN && -x $CB ]] || { echo "no $BIN or $CB: make bench-scale builds them" >&2; exit 1; }
tag=$(date -u +%Y%m%dT%H%M%SZ)
# BENCH_PARTS: which of the four to run (default all); the report shows n/a for the others
want() { [[ " ${BENCH_PARTS:-projector commands lag reads} " == *" $1 "* ]]; }
p1_n=0 p1_s=1 p1_c1=n/a p2_n=0 p2_s=1 p2_c1=n/a p2_c2=n/a one="" two_a="" two_b="" c0=0 c1=0
a0=0 a1=0 b0=0 b1=0 lag1_r=n/a lag1_p50=n/a lag1_p99=n/a lag2_r=n/a lag2_p50=n/a lag2_p99=n/a
l0=0 l1=0 m0=0 m1=0 n0=0 n1=0 r1_rps=n/a r1_p50=n/a r1_p99=n/a r1_err=n/a r1_ca=n/a r1_cb=n/a
r2_rps=n/a r2_p50=n/a r2_p99=n/a r2_err=n/a r2_ca=n/a r2_cb=n/a
mongo_uri=mongodb://127.0.0.1:$HL_MONGO_PORT/
out_dir=$HL_STACK_DIR/bench; mkdir -p "$out_dir"
report=$out_dir/scale-$tag.txt
pids=() dbs=()
cleanup() {
  local p d
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  for d in "${dbs[@]}"; do
    "$PY" -c "import pymongo,sys; pymongo.MongoClient(sys.argv[1]).drop_database(sys.argv[2])" \
      "$mongo_uri" "$d" || true
  done
  [[ ${started_cs2:-0} == 1 ]] && bash "$SERVERS" stop command-server-2 >/dev/null 2>&1 || true
  [[ ${started_pj2:-0} == 1 ]] && bash "$SERVERS" stop projector-2 >/dev/null 2>&1 || true
  [[ ${started_qs2:-0} == 1 ]] && bash "$SERVERS" stop query-server-2 >/dev/null 2>&1 || true
  [[ -n ${gw_env:-} ]] && env $gw_env bash "$GATEWAY" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

cpu_s() { # pid -> user+system CPU seconds so far
  awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$1/stat"
}
metric() { # port name -> sum of its samples, without result="retried" (integer)
  curl -fsS "http://127.0.0.1:$1/metrics" | awk -v n="$2" '
    ($1 == n || index($1, n "{") == 1) && $1 !~ /result="retried"/ { s += $2 } END { printf "%d\n", s }'
}

# ---- projector: n daemons in one group on one backlog ----
projector_run() { # n -> "inputs seconds cpu1 cpu2..."
  local n=$1 k port db=hl_scale_${tag,,}_$1 group=hl-scale-$tag-$1 t0 t1 total behind
  local -a ports=() run=()
  dbs+=("$db")
  t0=$(date +%s.%N)
  for ((k = 0; k < n; k++)); do
    port=$((HL_REPLICA_PORT_BASE + 40 + k))
    "$BIN" --kafka-brokers="127.0.0.1:$HL_KAFKA_PORT" --mongo-uri="$mongo_uri" --mongo-db="$db" \
      --schema-registry-url="$HL_REGISTRY_URL" --group-id="$group" --feed-topic= \
      --http-listen="127.0.0.1:$port" --log-level=warn >"$out_dir/scale-$tag-$n-$k.log" 2>&1 &
    run+=($!); pids+=($!); ports+=("$port")
  done
  local deadline=$(( $(date +%s) + MAX_S )) done=0
  sleep 5
  while (( $(date +%s) < deadline )); do
    sleep 1
    total=0; done=1
    for port in "${ports[@]}"; do
      behind=$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null |
               awk '$1 == "hl_projector_offsets_behind" { print $2 }')
      [[ -z $behind || $behind != 0 ]] && done=0
      total=$((total + $(metric "$port" hl_projection_inputs_total 2>/dev/null || echo 0)))
    done
    (( done && total > 0 )) && break
  done
  t1=$(date +%s.%N)
  local line="$total $(echo "$t1 - $t0" | bc -l)"
  for k in "${run[@]}"; do line+=" $(cpu_s "$k")"; done
  for k in "${run[@]}"; do kill "$k"; wait "$k" 2>/dev/null || true; done
  echo "$line"
}
if want projector; then
  x=$(projector_run 1); read -r p1_n p1_s p1_c1 <<<"$x"
  x=$(projector_run 2); read -r p2_n p2_s p2_c1 p2_c2 <<<"$x"
fi

# ---- commands: 1 server, then 2 ----
cs_pid() { cat "$HL_RUN_DIR/$1.pid"; }
bench_cmd() { # url clients -> commands/s (register, the last "register" line's first rate)
  "$CB" --url="$1" --pg="postgresql://$HL_PG_USER@127.0.0.1:$HL_PG_PORT/$HL_PG_DB" \
    --seconds="$CMD_S" --clients="$2" --only=register 2>>"$out_dir/scale-$tag-cmd.log" |
    tee -a "$out_dir/scale-$tag-cmd.log" | awk '$1 == "register" && $3 ~ /^[0-9.]+$/ { r = $0 } END { print r }'
}
rate_of() { awk '{ print ($3 == "" ? 0 : $3) }' <<<"$1"; }  # command clients cmd/s p50 ...
if want commands; then
u1=http://127.0.0.1:$HL_COMMAND_PORT
c0=$(cpu_s "$(cs_pid command-server)")
t0=$(date +%s.%N)
one=$(bench_cmd "$u1" "$CLIENTS")
c1=$(cpu_s "$(cs_pid command-server)")
if ! bash "$SERVERS" status command-server-2 >/dev/null 2>&1; then
  bash "$SERVERS" start command-server-2 >/dev/null; started_cs2=1
fi
u2=http://127.0.0.1:$(bash "$SERVERS" port command-server-2)
a0=$(cpu_s "$(cs_pid command-server)"); b0=$(cpu_s "$(cs_pid command-server-2)")
tmp_a=$(mktemp) tmp_b=$(mktemp)
bench_cmd "$u1" $((CLIENTS / 2)) >"$tmp_a" & ja=$!
bench_cmd "$u2" $((CLIENTS / 2)) >"$tmp_b" & jb=$!
wait "$ja" "$jb"
a1=$(cpu_s "$(cs_pid command-server)"); b1=$(cpu_s "$(cs_pid command-server-2)")
two_a=$(cat "$tmp_a"); two_b=$(cat "$tmp_b"); rm -f "$tmp_a" "$tmp_b"
fi

# ---- e2e lag: the stack's projector alone, then two in its group ----
lag_run() { # label -> "msgs_per_s p50 p99" of "message visible"
  local txt
  txt=$("$PY" "$HERE/e2e_lag.py" "http://127.0.0.1:$HL_GATEWAY_PORT" \
    "http://127.0.0.1:$HL_GATEWAY_PORT" --writers "$LAG_W" --duration "$LAG_S" 2>>"$out_dir/scale-$tag-lag.log")
  printf '%s\n%s\n' "== $1" "$txt" >>"$out_dir/scale-$tag-lag.log"
  awk '/^writes answered:/ && match($0, /\([0-9.]+\/s\)/) { r = substr($0, RSTART + 1, RLENGTH - 4) }
       /GET messages \(CDC\)/ {
         for (i = 1; i <= NF; i++) { if ($i == "p50") p50 = $(i + 1); if ($i == "p99") p99 = $(i + 1) } }
       END { printf "%s %s %s\n", (r == "" ? "n/a" : r), (p50 == "" ? "n/a" : p50), (p99 == "" ? "n/a" : p99) }' <<<"$txt"
}
if want lag; then
if bash "$SERVERS" status projector-2 >/dev/null 2>&1; then
  echo "[bench] projector-2 is running: the 1-projector lag run needs it stopped" >&2; exit 1
fi
l0=$(cpu_s "$(cs_pid projector)")
x=$(lag_run "1 projector"); read -r lag1_r lag1_p50 lag1_p99 <<<"$x"
l1=$(cpu_s "$(cs_pid projector)")
pj2_log_at=$(wc -c <"$HL_LOG_DIR/projector-2.log" 2>/dev/null || echo 0)
bash "$SERVERS" start projector-2 >/dev/null; started_pj2=1
for _ in $(seq 1 120); do  # until it holds partitions (the group rebalanced)
  tail -c +$((pj2_log_at + 1)) "$HL_LOG_DIR/projector-2.log" | grep -Eq 'rebalance: [1-9][0-9]* partitions assigned' && break
  sleep 1
done
m0=$(cpu_s "$(cs_pid projector)"); n0=$(cpu_s "$(cs_pid projector-2)")
x=$(lag_run "2 projectors"); read -r lag2_r lag2_p50 lag2_p99 <<<"$x"
m1=$(cpu_s "$(cs_pid projector)"); n1=$(cpu_s "$(cs_pid projector-2)")
bash "$SERVERS" stop projector-2 >/dev/null; started_pj2=0
fi

# ---- reads through a gateway: 1 query server, then 2 ----
if want reads; then
if ! bash "$SERVERS" status query-server-2 >/dev/null 2>&1; then
  bash "$SERVERS" start query-server-2 >/dev/null; started_qs2=1
fi
command -v wrk >/dev/null || bash "$HERE/../deploy/local/deps.sh" stack
seed=$("$PY" "$HERE/query_seed.py" "http://127.0.0.1:$HL_GATEWAY_PORT" "http://127.0.0.1:$HL_GATEWAY_PORT" --rooms 1 --messages 1)
user=$("$PY" -c "import json,sys; print(json.loads(sys.argv[1])['user_id'])" "$seed")
gw_port=$((HL_REPLICA_PORT_BASE + 39))
q1=127.0.0.1:$HL_QUERY_PORT q2=127.0.0.1:$(bash "$SERVERS" port query-server-2)
reads_run() { # upstream list -> "rps p50 p99 errors cpu..."
  gw_env="HL_GATEWAY_NAME=gateway-scale-bench HL_GATEWAY_PORT=$gw_port HL_GATEWAY_QUERY_UPSTREAMS=$1"
  env $gw_env bash "$GATEWAY" start >/dev/null
  local a0 b0 txt rps p50 p90 p99 mx errs
  a0=$(cpu_s "$(cs_pid query-server)"); b0=$(cpu_s "$(cs_pid query-server-2)")
  txt=$(wrk -t2 -c32 -d"${READ_S}s" --timeout 5s --latency "http://127.0.0.1:$gw_port/v1/users/$user" 2>&1) || true
  read -r rps p50 p90 p99 mx errs <<<"$("$PY" "$HERE/wrk_summary.py" "$txt")"
  echo "$rps $p50 $p99 $errs $(echo "$(cpu_s "$(cs_pid query-server)") - $a0" | bc -l) $(echo "$(cpu_s "$(cs_pid query-server-2)") - $b0" | bc -l)"
  env $gw_env bash "$GATEWAY" stop >/dev/null; gw_env=""
}
x=$(reads_run "$q1"); read -r r1_rps r1_p50 r1_p99 r1_err r1_ca r1_cb <<<"$x"
x=$(reads_run "$q1,$q2"); read -r r2_rps r2_p50 r2_p99 r2_err r2_ca r2_cb <<<"$x"
fi

{
  printf 'scale-out bench %s (profile %s, %s cores)\n' "$tag" "$HL_PROFILE" "$(nproc)"
  printf '%-40s %10s %8s %10s  %s\n' "projector (one backlog)" inputs seconds "inputs/s" "CPU s per process"
  printf '%-40s %10d %8.1f %10.0f  %s\n' "1 process" "$p1_n" "$p1_s" "$(echo "$p1_n / $p1_s" | bc -l)" "$p1_c1"
  printf '%-40s %10d %8.1f %10.0f  %s + %s\n' "2 processes, one group" "$p2_n" "$p2_s" "$(echo "$p2_n / $p2_s" | bc -l)" "$p2_c1" "$p2_c2"
  printf '\n%-40s %12s  %s\n' "commands (register, $CLIENTS clients)" "commands/s" "CPU s per server"
  printf '%-40s %12s  %s\n' "1 command server" "$(rate_of "$one")" "$(echo "$c1 - $c0" | bc -l)"
  printf '%-40s %12s  %s + %s\n' "2 command servers ($((CLIENTS / 2)) clients each)" \
    "$(echo "$(rate_of "$two_a") + $(rate_of "$two_b")" | bc -l)" "$(echo "$a1 - $a0" | bc -l)" "$(echo "$b1 - $b0" | bc -l)"
  printf '(command_bench lines: %s)\n' "$out_dir/scale-$tag-cmd.log"
  printf '\n%-40s %10s %9s %9s  %s\n' "e2e lag ($LAG_W writers, ${LAG_S} s, gateway)" "msgs/s" "p50 ms" "p99 ms" "CPU s per projector"
  printf '%-40s %10s %9s %9s  %s\n' "1 projector" "$lag1_r" "$lag1_p50" "$lag1_p99" "$(echo "$l1 - $l0" | bc -l)"
  printf '%-40s %10s %9s %9s  %s + %s\n' "2 projectors, one group" "$lag2_r" "$lag2_p50" "$lag2_p99" "$(echo "$m1 - $m0" | bc -l)" "$(echo "$n1 - $n0" | bc -l)"
  printf '(e2e_lag output: %s)\n' "$out_dir/scale-$tag-lag.log"
  printf '\n%-40s %10s %9s %9s %7s  %s\n' "reads (GET profile, wrk -c32, ${READ_S} s)" "reads/s" "p50 ms" "p99 ms" errors "CPU s per query server"
  printf '%-40s %10s %9s %9s %7s  %s\n' "1 query server behind the gateway" "$r1_rps" "$r1_p50" "$r1_p99" "$r1_err" "$r1_ca (+ $r1_cb idle)"
  printf '%-40s %10s %9s %9s %7s  %s + %s\n' "2 query servers behind the gateway" "$r2_rps" "$r2_p50" "$r2_p99" "$r2_err" "$r2_ca" "$r2_cb"
} | tee "$report"
echo "[bench] report: $report" >&2
