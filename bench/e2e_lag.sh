#!/usr/bin/env bash
# End-to-end lag under load (benchmark, not a test): command answered → visible on the query
# side, p50/p99, against a running stack (HL_PROFILE=dev by default: `make up`).
# Usage: bench/e2e_lag.sh [e2e_lag.py options: --writers 16 --duration 30 --poll-ms 2 --readers 0]
# The report is printed and written to $HL_STACK_DIR/bench/e2e-lag-<utc time>.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
COMMAND=http://127.0.0.1:$HL_GATEWAY_PORT   # through the gateway, as clients do
QUERY=$COMMAND
curl -fsS -o /dev/null "$QUERY/healthz" || { echo "query-server not up at $QUERY (make up?)" >&2; exit 1; }
curl -fsS -o /dev/null "$COMMAND/healthz" || { echo "command-server not up at $COMMAND" >&2; exit 1; }
PY=${HL_CACHE_DIR}/venv/bin/python
[[ -x $PY ]] || PY=python3
out_dir=$HL_STACK_DIR/bench; mkdir -p "$out_dir"
"$PY" "$HERE/e2e_lag.py" "$COMMAND" "$QUERY" "$@" | tee "$out_dir/e2e-lag-$(date -u +%Y%m%dT%H%M%SZ).txt"
