#!/usr/bin/env bash
# Projector benchmark (not a test): events/s of the projector daemon in steady state and while a
# rebuild runs, against a running stack (HL_PROFILE=dev by default: `make up`; HL_PROFILE=test
# for the test stack). Nothing of the stack's own read models is touched.
#
# A second projector daemon runs in its own consumer group, writing into its own database
# (hl_bench_<time>), and consumes every input topic from offset 0: the stack's whole history is
# its backlog. Phases:
#   steady   the daemon alone, for BENCH_SECONDS (default 30): inputs/s from its
#            hl_projection_inputs_total
#   rebuild  the same daemon while `projector rebuild $BENCH_MODEL` (default messages) rebuilds a
#            model of that database from its topic: the daemon's inputs/s meanwhile, and the
#            rebuild's own inputs/s (its last line)
# A phase ends early when the daemon has caught up (offsets behind 0): then only what it measured
# until then counts. The bench database is dropped at the end. Report also in
# $HL_STACK_DIR/bench/projector-<utc time>.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
SECONDS_PER_PHASE=${BENCH_SECONDS:-30}
MODEL=${BENCH_MODEL:-messages}
PORT=${BENCH_PROJECTOR_PORT:-$((HL_PROJECTOR_PORT + 100))}
BIN=$HL_BUILD_DIR/projector/projector
PY=${HL_CACHE_DIR}/venv/bin/python
[[ -x $PY ]] || PY=python3
[[ -x $BIN ]] || { echo "no $BIN: make build" >&2; exit 1; }
tag=$(date -u +%Y%m%dT%H%M%SZ)
db=hl_bench_${tag,,}
mongo_uri=mongodb://127.0.0.1:$HL_MONGO_PORT/
common=(--kafka-brokers="127.0.0.1:$HL_KAFKA_PORT" --mongo-uri="$mongo_uri" --mongo-db="$db"
        --schema-registry-url="$HL_REGISTRY_URL" --log-level=warn)
out_dir=$HL_STACK_DIR/bench; mkdir -p "$out_dir"
report=$out_dir/projector-$tag.txt
log=$out_dir/projector-$tag.log

"$BIN" "${common[@]}" --group-id="hl-bench-$tag" --http-listen="127.0.0.1:$PORT" >"$log" 2>&1 &
daemon=$!
cleanup() {
  kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
  "$PY" -c "import pymongo,sys; pymongo.MongoClient(sys.argv[1]).drop_database(sys.argv[2])" \
    "$mongo_uri" "$db" || true
}
trap cleanup EXIT

metric() { # name -> the unlabelled sample, else the sum over its labelled samples (integer)
  curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -v n="$1" '
    $1 == n { t = $2; have = 1 } index($1, n "{") == 1 { s += $2 }
    END { printf "%d\n", have ? t : s }'
}
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break; sleep 0.2; done
# the backlog: wait until the daemon has its assignment and started consuming
for _ in $(seq 150); do (( $(metric hl_projection_inputs_total) > 0 )) && break; sleep 0.2; done

phase() { # name seconds -> prints "inputs seconds"
  local t0 n0 t1 n1 deadline
  t0=$(date +%s.%N); n0=$(metric hl_projection_inputs_total)
  deadline=$(( $(date +%s) + $2 ))
  while (( $(date +%s) < deadline )); do
    sleep 1
    (( $(metric hl_projector_offsets_behind) <= 0 )) && break
  done
  t1=$(date +%s.%N); n1=$(metric hl_projection_inputs_total)
  echo "$((n1 - n0)) $(echo "$t1 - $t0" | bc -l)"
}
backlog=$(metric hl_projector_offsets_behind)
read -r n s < <(phase steady "$SECONDS_PER_PHASE")
steady=$(echo "$n / $s" | bc -l)

"$BIN" "${common[@]}" rebuild "$MODEL" >"$out_dir/projector-$tag-rebuild.log" 2>&1 &
rebuild=$!
read -r n2 s2 < <(phase rebuild "$SECONDS_PER_PHASE")
during=$(echo "$n2 / $s2" | bc -l)
wait "$rebuild" || { echo "rebuild failed: $out_dir/projector-$tag-rebuild.log" >&2; exit 1; }
rb_line=$(grep "done," "$out_dir/projector-$tag-rebuild.log" | tail -1)
rb_rate=$(sed -n 's/.*(\([0-9]*\) inputs\/s).*/\1/p' <<<"$rb_line")

{
  printf 'projector bench %s (backlog %s inputs from offset 0, %ss per phase)\n' "$tag" "$backlog" "$SECONDS_PER_PHASE"
  printf '%-44s %10s %8s %10s\n' phase inputs seconds "inputs/s"
  printf '%-44s %10d %8.1f %10.0f\n' "steady state (daemon alone)" "$n" "$s" "$steady"
  printf '%-44s %10d %8.1f %10.0f\n' "daemon during rebuild of $MODEL" "$n2" "$s2" "$during"
  printf '%-44s %10s %8s %10s\n' "rebuild $MODEL itself" "-" "-" "${rb_rate:-?}"
} | tee "$report"
echo "[bench] report: $report" >&2
