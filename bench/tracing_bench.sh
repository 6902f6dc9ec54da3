#!/usr/bin/env bash
# Tracing overhead benchmark (`make bench-tracing`, issue 14): the command bench (send-message)
# and the query bench (bench/query_bench.sh, six GET routes) against the same running stack,
# with the four servers restarted in each mode:
#   off   HL_OTLP_ENDPOINT= (ids still propagated, nothing recorded or exported)
#   0.01  HL_TRACE_SAMPLE=0.01 to this profile's Jaeger
#   1.0   HL_TRACE_SAMPLE=1.0 (every request traced)
# and prints throughput per mode with its ratio to "off" (target: >= 0.95 at 0.01).
# Usage: HL_PROFILE=lab6 bash bench/tracing_bench.sh
#   env: TRACE_BENCH_SECONDS (command bench per run, default 10), TRACE_BENCH_CLIENTS (8),
#        BENCH_DURATION (query bench per route, default 8), TRACE_BENCH_MODES ("off 0.01 1.0")
# Needs the stack up (stack.sh up) with Jaeger; the servers are left running with tracing as
# servers.sh configures it (HL_TRACE_SAMPLE=1.0) at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
SECONDS_PER=${TRACE_BENCH_SECONDS:-10}
CLIENTS=${TRACE_BENCH_CLIENTS:-8}
export BENCH_DURATION=${BENCH_DURATION:-8}
MODES=${TRACE_BENCH_MODES:-off 0.01 1.0}
BIN=$HL_BUILD_DIR/command-bench
PG=postgresql://$HL_PG_USER@127.0.0.1:$HL_PG_PORT/$HL_PG_DB
[[ -x $BIN ]] || cc -std=c11 -O2 -Wall -Wextra -Werror "$HERE/command_bench.c" -o "$BIN" \
  $(pkg-config --cflags --libs libcurl libpq) -lpthread
curl -fsS -o /dev/null "http://127.0.0.1:$HL_JAEGER_PORT/api/services" \
  || { echo "Jaeger is not up on :$HL_JAEGER_PORT (stack.sh up)" >&2; exit 1; }
out_dir=$HL_STACK_DIR/bench; mkdir -p "$out_dir"
report=$out_dir/tracing-$(date -u +%Y%m%dT%H%M%SZ).txt
declare -A CMD PGB QRY
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "-" }'; }
restore() {
  unset HL_OTLP_ENDPOINT HL_TRACE_SAMPLE
  bash "$HERE/../deploy/local/servers.sh" stop >/dev/null 2>&1 || true
  bash "$HERE/../deploy/local/servers.sh" start >/dev/null 2>&1 || true
}
trap restore EXIT
for mode in $MODES; do
  if [[ $mode == off ]]; then export HL_OTLP_ENDPOINT=; unset HL_TRACE_SAMPLE
  else export HL_OTLP_ENDPOINT=http://127.0.0.1:$HL_OTLP_PORT HL_TRACE_SAMPLE=$mode; fi
  echo "[bench] mode $mode: restarting the servers" >&2
  bash "$HERE/../deploy/local/servers.sh" stop >/dev/null
  bash "$HERE/../deploy/local/servers.sh" start >/dev/null
  txt=$("$BIN" --url="http://127.0.0.1:$HL_COMMAND_PORT" --pg="$PG" --seconds="$SECONDS_PER" \
    --clients="$CLIENTS" --only=send-message)
  echo "$txt" >&2
  CMD[$mode]=$(awk '$1 == "send-message" {print $3}' <<<"$txt")
  PGB[$mode]=$(awk '$1 == "send-message" {print $7}' <<<"$txt")  # pgbench, same SQL, same minute
  txt=$(bash "$HERE/query_bench.sh")
  echo "$txt" >&2
  # sum of req/s over the six routes (same routes, same seed size in every mode)
  QRY[$mode]=$(awk 'NR > 1 {s += $(NF-5)} END {printf "%.0f", s}' <<<"$txt")
done
{
  # "vs pgbench": cmd/s over the pgbench figure of the same mode, relative to "off": the peer
  # runs the same SQL without our servers, so machine-wide slowdowns between modes cancel out.
  printf '%-6s %14s %8s %12s %18s %8s\n' sample "send-message/s" ratio "vs pgbench" "query req/s (sum)" ratio
  off_norm=$(ratio "${CMD[off]:-0}" "${PGB[off]:-0}")
  for mode in $MODES; do
    printf '%-6s %14s %8s %12s %18s %8s\n' "$mode" "${CMD[$mode]}" \
      "$(ratio "${CMD[$mode]}" "${CMD[off]:-0}")" \
      "$(ratio "$(ratio "${CMD[$mode]}" "${PGB[$mode]}")" "$off_norm")" \
      "${QRY[$mode]}" "$(ratio "${QRY[$mode]}" "${QRY[off]:-0}")"
  done
  echo "($CLIENTS command clients x ${SECONDS_PER}s; query bench ${BENCH_DURATION}s per route, 32 connections; profile $HL_PROFILE)"
} | tee "$report"
