#!/usr/bin/env bash
# Tracing backend: Jaeger all-in-one $HL_JAEGER_VERSION (Go module proxy, built once into
# $HL_CACHE_DIR/jaeger from the small module deploy/local/jaeger), in-memory storage, configured
# from deploy/jaeger/jaeger.yaml.template rendered with this profile's values.
#   UI and API   http://127.0.0.1:$HL_JAEGER_PORT   (dev 26686; /api/traces/<id>, /api/services)
#   OTLP/HTTP    http://127.0.0.1:$HL_OTLP_PORT     (dev 24318; the servers' HL_OTLP_ENDPOINT)
#   log          $HL_LOG_DIR/jaeger.log
# Usage: jaeger.sh install|start|stop|status
#   HL_JAEGER_MAX_TRACES  traces kept in memory [50000]
#   HL_JAEGER=0           stack.sh leaves Jaeger out (the servers then count dropped spans)
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=jaeger
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$HERE/jaeger
BIN=$HL_CACHE_DIR/jaeger/jaeger
STAMP=$BIN.sha256
TEMPLATE=$HL_ROOT/deploy/jaeger/jaeger.yaml.template
STATE=$HL_STACK_DIR/jaeger
NAME=jaeger

install() {
  local want; want=$(cat "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -d' ' -f1)
  [[ -x $BIN && -f $STAMP && $(cat "$STAMP") == "$want" ]] && return 0
  command -v go >/dev/null 2>&1 || hl_die "Go is needed to build Jaeger (see deploy/local/mongo.sh for the FerretDB launcher's note)"
  hl_dirs; mkdir -p "$(dirname "$BIN")"
  hl_say "building Jaeger $HL_JAEGER_VERSION (go build; several minutes the first time)"
  (cd "$SRC" && go build -trimpath -ldflags="-s -w" -o "$BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) \
    || hl_die "go build of Jaeger failed"
  mv "$BIN.tmp" "$BIN"
  echo "$want" > "$STAMP"
}

render() {
  hl_dirs; mkdir -p "$STATE"
  export HL_JAEGER_QUERY_LISTEN=127.0.0.1:$HL_JAEGER_PORT
  export HL_JAEGER_OTLP_LISTEN=127.0.0.1:$HL_OTLP_PORT
  export HL_JAEGER_MAX_TRACES=${HL_JAEGER_MAX_TRACES:-50000}
  local vars; vars=$(grep -o '\${HL_JAEGER_[A-Z_]*}' "$TEMPLATE" | sort -u | tr '\n' ' ')
  envsubst "$vars" < "$TEMPLATE" > "$STATE/jaeger.yaml"
}

healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$HL_JAEGER_PORT/api/services"; }

case "${1:-}" in
  install) install ;;
  start)
    if hl_pid_alive $NAME; then hl_say "already running on :$HL_JAEGER_PORT"; exit 0; fi
    for p in "$HL_JAEGER_PORT" "$HL_OTLP_PORT"; do
      hl_port_open "$p" && hl_die "port $p is taken by another process: cannot start Jaeger"
    done
    install; render
    hl_start_bg $NAME "$BIN" --config "file:$STATE/jaeger.yaml"
    hl_wait_for 60 "Jaeger on :$HL_JAEGER_PORT" healthy || { tail -n 20 "$HL_LOG_DIR/$NAME.log" >&2; hl_die "Jaeger did not start; see $HL_LOG_DIR/$NAME.log"; }
    hl_say "ready: UI http://127.0.0.1:$HL_JAEGER_PORT, OTLP/HTTP http://127.0.0.1:$HL_OTLP_PORT (pid $(cat "$HL_RUN_DIR/$NAME.pid"))" ;;
  stop) hl_stop_bg $NAME 15 ;;
  status) hl_pid_alive $NAME && echo "jaeger running" || { echo "jaeger stopped"; exit 1; } ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
