#!/usr/bin/env bash
# The fault matrix (tests/chaos/chaos.py; docs/RELIABILITY.md) against the stack of HL_PROFILE
# (default test), built in HL_BUILD_DIR. Starts the stack when it is not running (and stops it
# afterwards in that case). Usage: run.sh [chaos.py args]   e.g. run.sh --faults short
#   make chaos        the full matrix (CHAOS_ARGS for more), on HL_PROFILE (default test)
#   ctest -R chaos_short   three faults, in make test
set -euo pipefail
export HL_PROFILE=${HL_PROFILE:-test}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../deploy/local/env.sh"
export HL_PG_PORT HL_PG_DB HL_PG_USER HL_MONGO_PORT HL_MONGO_DB HL_COMMAND_PORT HL_QUERY_PORT \
  HL_PROJECTOR_PORT HL_GATEWAY_PORT HL_KAFKA_PORT HL_KAFKA_FAULT_PORT HL_KAFKA_PROXY_PORT
PY=$HL_CACHE_DIR/venv/bin/python
[[ -x $PY ]] || { echo "no test venv: run 'bash deploy/local/deps.sh test'" >&2; exit 1; }
started=0
if ! bash "$HERE/../../deploy/local/stack.sh" status >/dev/null 2>&1; then
  HL_MARK_OWNER=1 bash "$HERE/../../deploy/local/stack.sh" up
  started=1
fi
rc=0
"$PY" "$HERE/chaos.py" "$@" || rc=$?
((started)) && bash "$HERE/../../deploy/local/stack.sh" down-if-owned
exit $rc
