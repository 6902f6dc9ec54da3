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
PY=${HL_CACHE_DIR}/venv/bin/python
[[ -x $PY ]] || PY=python3
[[ -x $BIN && -x $CB ]] || { echo "no $BIN or $CB: make bench-scale builds them" >&2; exit 1; }
tag=$(date -u +%Y%m%dT%H%M%SZ)
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
read -r p1_n p1_s p1_c1 < <(projector_run 1)
read -r p2_n p2_s p2_c1 p2_c2 < <(projector_run 2)

# ---- commands: 1 server, then 2 ----
cs_pid() { cat "$HL_RUN_DIR/$1.pid"; }
bench_cmd() { # url clients -> commands/s (register, the last "register" line's first rate)
  "$CB" --url="$1" --pg="postgresql://$HL_PG_USER@127.0.0.1:$HL_PG_PORT/$HL_PG_DB" \
    --seconds="$CMD_S" --clients="$2" --only=register 2>>"$out_dir/scale-$tag-cmd.log" |
    tee -a "$out_dir/scale-$tag-cmd.log" | awk '$1 == "register" && $3 ~ /^[0-9.]+$/ { r = $0 } END { print r }'
}
rate_of() { awk '{ print ($3 == "" ? 0 : $3) }' <<<"$1"; }  # command clients cmd/s p50 ...
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
} | tee "$report"
echo "[bench] report: $report" >&2
