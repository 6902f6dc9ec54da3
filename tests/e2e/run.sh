#!/usr/bin/env bash
# Run one end-to-end pytest module against the stack of HL_PROFILE (default: test), with the
# stack's ports exported from deploy/local/env.sh. Usage: run.sh test_file.py [pytest args]
set -euo pipefail
export HL_PROFILE=${HL_PROFILE:-test}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../deploy/local/env.sh"
export HL_PG_PORT HL_PG_DB HL_PG_USER HL_KAFKA_PORT HL_REGISTRY_URL HL_MONGO_PORT HL_MONGO_DB \
  HL_COMMAND_PORT HL_QUERY_PORT HL_PROJECTOR_PORT HL_CONNECT_PORT HL_GATEWAY_PORT \
  HL_GATEWAY_TLS_PORT HL_STREAM_PORT HL_PAYMENT_PORT HL_S3_PORT HL_S3_BUCKET HL_S3_REGION \
  HL_S3_ACCESS_KEY HL_S3_SECRET_KEY HL_LOG_DIR HL_RUN_DIR HL_STACK_DIR \
  HL_PROMETHEUS_PORT HL_JAEGER_PORT HL_OTLP_PORT HL_NGINX_EXPORTER_PORT
PY=$HL_CACHE_DIR/venv/bin/python
[[ -x $PY ]] || { echo "no test venv: run 'bash deploy/local/deps.sh test'" >&2; exit 1; }
test_file=$1; shift
cd "$HERE"
exec "$PY" -m pytest -q -p no:cacheprovider "$HERE/$test_file" "$@"
