#!/usr/bin/env bash
# make bench-streams: run bench/stream_bench.py against the running stack of HL_PROFILE (default
# dev) with its ports, in the project's Python venv. Arguments go to the harness.
set -euo pipefail
export HL_PROFILE=${HL_PROFILE:-dev}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
export HL_STREAM_PORT HL_COMMAND_PORT HL_QUERY_PORT HL_RUN_DIR
ulimit -n "$(ulimit -Hn)"
exec "$HL_CACHE_DIR/venv/bin/python" "$HERE/stream_bench.py" "$@"
