#!/usr/bin/env bash
# Metrics and alerts: Prometheus (Debian `prometheus` 2.42, with promtool) scraping this
# profile's servers, the payment simulator and the gateway (nginx stub_status, loopback only,
# through Debian's prometheus-nginx-exporter), with the rule files of
# deploy/prometheus/rules. Config: deploy/prometheus/prometheus.yml.template rendered per profile.
#   UI and API      http://127.0.0.1:$HL_PROMETHEUS_PORT   (dev 29090; /alerts, /targets)
#   nginx exporter  http://127.0.0.1:$HL_NGINX_EXPORTER_PORT/metrics
#   data            $HL_STACK_DIR/prometheus (TSDB, 2 days), logs $HL_LOG_DIR/prometheus.log
# Usage: prometheus.sh install|render|check|start|stop|status|reload
#   HL_PROM_SCRAPE_INTERVAL / HL_PROM_EVAL_INTERVAL   [5s / 5s locally; the template's
#                                                     production value is 15s]
#   HL_PROM_RULES_DIR   rule files loaded [deploy/prometheus/rules]
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=prometheus
TEMPLATE=$HL_ROOT/deploy/prometheus/prometheus.yml.template
STATE=$HL_STACK_DIR/prometheus
CONF=$STATE/prometheus.yml
NAME=prometheus
EXPORTER=nginx-exporter

install() {
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
    && command -v prometheus-nginx-exporter >/dev/null 2>&1 && return 0
  bash "$(dirname "$0")/deps.sh" stack
}

render() {
  hl_dirs; mkdir -p "$STATE/data"
  export HL_PROM_SCRAPE_INTERVAL=${HL_PROM_SCRAPE_INTERVAL:-5s}
  export HL_PROM_EVAL_INTERVAL=${HL_PROM_EVAL_INTERVAL:-5s}
  export HL_PROM_STACK=$HL_PROFILE
  export HL_PROM_RULES_DIR=${HL_PROM_RULES_DIR:-$HL_ROOT/deploy/prometheus/rules}
  export HL_PROM_SELF=127.0.0.1:$HL_PROMETHEUS_PORT
  export HL_PROM_COMMAND=127.0.0.1:$HL_COMMAND_PORT
  export HL_PROM_QUERY=127.0.0.1:$HL_QUERY_PORT
  export HL_PROM_PROJECTOR=127.0.0.1:$HL_PROJECTOR_PORT
  export HL_PROM_STREAM=127.0.0.1:$HL_STREAM_PORT
  export HL_PROM_PAYMENT_TARGETS="\"127.0.0.1:$HL_PAYMENT_PORT\""
  export HL_PROM_GATEWAY_EXPORTER=127.0.0.1:$HL_NGINX_EXPORTER_PORT
  local vars; vars=$(grep -o '\${HL_PROM_[A-Z_]*}' "$TEMPLATE" | sort -u | tr '\n' ' ')
  envsubst "$vars" < "$TEMPLATE" > "$CONF.tmp"
  promtool check config "$CONF.tmp" > "$STATE/check.log" 2>&1 \
    || { cat "$STATE/check.log" >&2; hl_die "rendered $CONF.tmp does not pass promtool check config"; }
  mv "$CONF.tmp" "$CONF"
}

healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$HL_PROMETHEUS_PORT/-/ready"; }

start() {
  install
  # The gateway's stub_status (nginx.conf.template, loopback callers only).
  if ! hl_pid_alive $EXPORTER; then
    hl_port_open "$HL_NGINX_EXPORTER_PORT" && hl_die "port $HL_NGINX_EXPORTER_PORT is taken by another process"
    hl_start_bg $EXPORTER prometheus-nginx-exporter \
      -nginx.scrape-uri "http://127.0.0.1:$HL_GATEWAY_PORT/_stub_status" \
      -web.listen-address "127.0.0.1:$HL_NGINX_EXPORTER_PORT"
  fi
  if hl_pid_alive $NAME; then hl_say "already running on :$HL_PROMETHEUS_PORT"; return 0; fi
  hl_port_open "$HL_PROMETHEUS_PORT" && hl_die "port $HL_PROMETHEUS_PORT is taken by another process"
  render
  hl_start_bg $NAME prometheus --config.file="$CONF" --storage.tsdb.path="$STATE/data" \
    --storage.tsdb.retention.time=2d --web.listen-address="127.0.0.1:$HL_PROMETHEUS_PORT" \
    --web.enable-lifecycle
  hl_wait_for 60 "Prometheus on :$HL_PROMETHEUS_PORT" healthy \
    || { tail -n 20 "$HL_LOG_DIR/$NAME.log" >&2; hl_die "Prometheus did not start; see $HL_LOG_DIR/$NAME.log"; }
  hl_say "ready: http://127.0.0.1:$HL_PROMETHEUS_PORT (pid $(cat "$HL_RUN_DIR/$NAME.pid"))"
}

case "${1:-}" in
  install) install ;;
  render) install; render; echo "$CONF" ;;
  check)  # the shipped files: config (rules included) and the rules' unit tests
    install; render
    promtool check config "$CONF"
    promtool test rules "$HL_ROOT"/deploy/prometheus/tests/*.yml ;;
  start) start ;;
  reload) render; curl -fsS -X POST "http://127.0.0.1:$HL_PROMETHEUS_PORT/-/reload" ;;
  stop) hl_stop_bg $NAME 20; hl_stop_bg $EXPORTER 5 ;;
  status) hl_pid_alive $NAME && echo "prometheus running" || { echo "prometheus stopped"; exit 1; } ;;
  *) echo "usage: $0 install|render|check|start|stop|status|reload" >&2; exit 2 ;;
esac
