#!/usr/bin/env bash
# Query-side benchmark (not a test): requests/s and latency percentiles of GET profile,
# GET chat-rooms (inbox), GET messages page, GET friends, GET notifications and GET
# friend-requests at 32 connections, with wrk (Debian package,
# installed here when missing), against a running stack (HL_PROFILE=dev by default: `make up`;
# HL_PROFILE=test for the test stack).
#
# Usage: bench/query_bench.sh            env: BENCH_DURATION (s, default 15), BENCH_CONNECTIONS
#        (default 32), BENCH_THREADS (wrk threads, default 2), BENCH_ROOMS (default 20),
#        BENCH_MESSAGES (default 60), BENCH_SETTLE (s to wait after seeding, default 10)
# Seeds one user through the command API (bench/query_seed.py), then runs wrk per route and
# prints a table (also written to $HL_STACK_DIR/bench/query-<utc time>.txt).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
DURATION=${BENCH_DURATION:-15}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
COMMAND=http://127.0.0.1:$HL_COMMAND_PORT
QUERY=http://127.0.0.1:$HL_QUERY_PORT

if ! command -v wrk >/dev/null; then
  echo "[bench] installing wrk (Debian)" >&2
  if [[ $(id -u) == 0 ]]; then apt-get install -y -q wrk >&2 || { apt-get update -q >&2 && apt-get install -y -q wrk >&2; }
  else sudo apt-get install -y -q wrk >&2; fi
fi
curl -fsS -o /dev/null "$QUERY/healthz" || { echo "query-server not up at $QUERY (make up?)" >&2; exit 1; }
curl -fsS -o /dev/null "$COMMAND/healthz" || { echo "command-server not up at $COMMAND" >&2; exit 1; }

PY=${HL_CACHE_DIR}/venv/bin/python
[[ -x $PY ]] || PY=python3
echo "[bench] seeding through $COMMAND" >&2
seed=$("$PY" "$HERE/query_seed.py" "$COMMAND" "$QUERY" --rooms "${BENCH_ROOMS:-20}" \
  --messages "${BENCH_MESSAGES:-60}")
field() { "$PY" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$seed" "$1"; }
user=$(field user_id); token=$(field token); room=$(field room_id)
# let the projector finish the seed's remaining inputs (notifications, counters...) first
sleep "${BENCH_SETTLE:-10}"

out_dir=$HL_STACK_DIR/bench; mkdir -p "$out_dir"
report=$out_dir/query-$(date -u +%Y%m%dT%H%M%SZ).txt
printf '%-34s %10s %9s %9s %9s %9s %8s\n' route "req/s" p50_ms p90_ms p99_ms max_ms errors | tee "$report"

run() { # name path [auth]
  local name=$1 path=$2 hdr=()
  [[ ${3:-} == auth ]] && hdr=(-H "Authorization: Bearer $token")
  # the route must answer 200 before it is measured
  curl -fsS -o /dev/null "${hdr[@]}" "$QUERY$path"
  local txt
  txt=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${hdr[@]}" "$QUERY$path")
  local rps p50 p90 p99 mx errs
  read -r rps p50 p90 p99 mx errs <<<"$("$PY" "$HERE/wrk_summary.py" "$txt")"
  printf '%-34s %10s %9s %9s %9s %9s %8s\n' "$name" "$rps" "$p50" "$p90" "$p99" "$mx" "$errs" | tee -a "$report"
}
run "GET /v1/users/{id}" "/v1/users/$user"
run "GET /v1/chat-rooms (inbox, 20)" "/v1/chat-rooms" auth
run "GET .../messages (page of 20)" "/v1/chat-rooms/$room/messages" auth
run "GET /v1/friends (20)" "/v1/friends" auth
run "GET /v1/notifications (20)" "/v1/notifications" auth
run "GET /v1/friend-requests (incoming)" "/v1/friend-requests" auth
echo "[bench] $CONNECTIONS connections, ${DURATION}s per route, wrk threads $THREADS; report: $report" >&2
