#!/usr/bin/env bash
# CPU per command of the whole pipeline (issue 15; a benchmark, not a test), `make bench-cpu`:
# bench/cpu_bench.py against a running stack (HL_PROFILE, default dev). Prints, for register,
# friend request, send-message and mark-read, each process's CPU µs per command (net of its idle
# rate), the read-store commands and statements and the PostgreSQL statements per command.
# The first run's figures are kept in CPU_BEFORE (default bench/results/cpu-before.json) and a
# later run prints them beside its own ("before" / "after"); CPU_BENCH_ARGS go to the script
# (e.g. --messages=4000 --clients=8 --label=before; word-split), CPU_NOTE (what ran: binaries,
# commit) is kept in the JSON and printed above a later run's tables. Report also in
# $HL_STACK_DIR/bench/ (CPU_OUT: this run's JSON elsewhere, as bench/report.sh's cpu phase does).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
PY=${HL_CACHE_DIR}/venv/bin/python
[[ -x $PY ]] || PY=python3
curl -fsS -o /dev/null "http://127.0.0.1:$HL_GATEWAY_PORT/healthz" ||
  { echo "no gateway on :$HL_GATEWAY_PORT (HL_PROFILE=$HL_PROFILE stack.sh up?)" >&2; exit 1; }
procs=()
for n in command-server projector query-server stream-listener ferretdb kafka connect registry gateway; do
  f=$HL_RUN_DIR/$n.pid
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null || { echo "[bench-cpu] $n: not running, left out" >&2; continue; }
  procs+=(--proc "$n=$(cat "$f")")
done
pm=$HL_STACK_DIR/pg/data/postmaster.pid
[[ -f $pm ]] && procs+=(--proc "postgresql=$(head -1 "$pm")")
# pg_stat_statements (deploy/local/postgres.sh preloads it): the extension in the application DB
psql -h 127.0.0.1 -p "$HL_PG_PORT" -U postgres -d "$HL_PG_DB" -qAtc \
  'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null 2>&1 ||
  echo "[bench-cpu] pg_stat_statements not available: no statement counts" >&2
out_dir=$HL_STACK_DIR/bench; mkdir -p "$out_dir"
tag=$(date -u +%Y%m%dT%H%M%SZ)
before=${CPU_BEFORE:-$HERE/results/cpu-before.json}
mkdir -p "$(dirname "$before")"
# shellcheck disable=SC2086
"$PY" "$HERE/cpu_bench.py" --gateway-port="$HL_GATEWAY_PORT" --command-port="$HL_COMMAND_PORT" \
  --projector-port="$HL_PROJECTOR_PORT" --mongo-uri="mongodb://127.0.0.1:$HL_MONGO_PORT/" \
  --pg-url="postgresql://postgres@127.0.0.1:$HL_PG_PORT/$HL_PG_DB" "${procs[@]}" \
  --before="$before" --out="${CPU_OUT:-$out_dir/cpu-$tag.json}" --note="${CPU_NOTE:-}" ${CPU_BENCH_ARGS:-} | tee "$out_dir/cpu-$tag.txt"
echo "[bench-cpu] report: $out_dir/cpu-$tag.txt" >&2
