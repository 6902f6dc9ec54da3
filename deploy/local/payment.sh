#!/usr/bin/env bash
# The payment provider simulator (deploy/local/payment_sim.py, a stand-in for Stripe's
# PaymentIntents API used by the booking saga) on 127.0.0.1:$HL_PAYMENT_PORT.
# Usage: payment.sh start|stop|status. Log: $HL_LOG_DIR/payment-sim.log. Python 3 stdlib only.
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=payment
HERE=$(cd "$(dirname "$0")" && pwd)

healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$HL_PAYMENT_PORT/healthz"; }

case "${1:-}" in
  start)
    if hl_pid_alive payment-sim; then hl_say "already running on :$HL_PAYMENT_PORT"; exit 0; fi
    hl_port_open "$HL_PAYMENT_PORT" && hl_die "port $HL_PAYMENT_PORT is taken by another process"
    hl_start_bg payment-sim python3 "$HERE/payment_sim.py" --port "$HL_PAYMENT_PORT"
    hl_wait_for 30 "payment simulator on :$HL_PAYMENT_PORT" healthy || hl_die "payment simulator did not start; see $HL_LOG_DIR/payment-sim.log"
    hl_say "ready: http://127.0.0.1:$HL_PAYMENT_PORT" ;;
  stop) hl_stop_bg payment-sim 10 ;;
  status) hl_pid_alive payment-sim && echo "payment-sim running" || { echo "payment-sim stopped"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
