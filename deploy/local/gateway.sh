#!/usr/bin/env bash
# The gateway (SPEC §7): nginx from Debian, run as this profile's own process (never the system
# service), configured from deploy/gateway/nginx.conf.template rendered with this profile's
# values. It is the one URL clients use: http://127.0.0.1:$HL_GATEWAY_PORT (dev 8000).
#   config  $HL_STACK_DIR/gateway/nginx.conf     (rendered at every start and reload)
#   logs    $HL_LOG_DIR/gateway-access.log (JSON lines), gateway-error.log
# Usage: gateway.sh install|render|start|stop|reload|status
#
# Every value below can be set in the environment before `make up` (defaults in brackets):
#   HL_GATEWAY_PORT, HL_GATEWAY_TLS_PORT   [env.sh per profile: dev 8000 / 8043]
#   HL_TLS_CERT, HL_TLS_KEY                PEM files: also serve HTTPS (HTTP/2) on the TLS port
#   HL_CORS_ORIGINS                        comma-separated browser origins allowed to call the API
#                                          [http://127.0.0.1:$HL_GATEWAY_PORT,http://localhost:$HL_GATEWAY_PORT]
#   HL_GATEWAY_WRITE_RATE / _BURST         writes per client address [20r/s / 40]
#   HL_GATEWAY_LOGIN_RATE / _BURST         POST /v1/sessions per client address [1r/s / 10]
#   HL_GATEWAY_CONNS_PER_ADDR              concurrent requests (streams included) per address [256]
#   HL_GATEWAY_TRUSTED                     addresses/CIDRs exempt from the per-address limits,
#                                          comma-separated [127.0.0.1: the local load generator,
#                                          benchmarks and tests; limit tests use 127.0.0.2+]
#   HL_GATEWAY_HEADER_TIMEOUT / _BODY_TIMEOUT   cut clients that trickle [10s / 10s]
#   HL_GATEWAY_KEEPALIVE_TIMEOUT           idle client keep-alive [75s]
#   HL_GATEWAY_WORKERS, HL_GATEWAY_WORKER_CONNECTIONS   [auto, 16384]
#   HL_GATEWAY_COMMAND_SERVERS / _QUERY_SERVERS / _STREAM_SERVERS   upstream host:port lists
#                                          [this profile's servers]
#   HL_GATEWAY_COMMAND_KEEPALIVE / _QUERY_KEEPALIVE   idle pooled connections per nginx worker,
#                                          kept below the servers' worker threads [8 / 16]
#   HL_GATEWAY_MEDIA_UPSTREAMS             object store host:port list for /media/ [127.0.0.1:$HL_S3_PORT]
#   HL_GATEWAY_MEDIA_CACHE_SIZE            /media/ proxy cache size on disk [1g]
#   HL_GATEWAY_NAME                        instance name (pid, config, logs) [gateway]; a test can
#                                          run a second instance with other ports and limits
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=gateway

HERE=$(cd "$(dirname "$0")" && pwd)
NAME=${HL_GATEWAY_NAME:-gateway}
TEMPLATE=$HL_ROOT/deploy/gateway/nginx.conf.template
STATE=$HL_STACK_DIR/$NAME
CONF=$STATE/nginx.conf
PIDFILE=$HL_RUN_DIR/$NAME.pid

install() {
  command -v nginx >/dev/null 2>&1 && command -v envsubst >/dev/null 2>&1 && return 0
  bash "$HERE/deps.sh" stack   # Debian nginx and gettext-base (envsubst)
}

# "server A max_fails=1 fail_timeout=2s; server B ...;" from "A,B".
server_lines() {
  local out="" s
  IFS=, read -ra list <<< "$1"
  for s in "${list[@]}"; do out+="server $s max_fails=1 fail_timeout=2s; "; done
  printf '%s' "$out"
}

render() {
  hl_dirs
  mkdir -p "$STATE/temp"
  export HL_GATEWAY_LISTEN=127.0.0.1:$HL_GATEWAY_PORT
  export HL_GATEWAY_PID=$PIDFILE
  export HL_GATEWAY_ERROR_LOG=$HL_LOG_DIR/$NAME-error.log
  export HL_GATEWAY_ACCESS_LOG=$HL_LOG_DIR/$NAME-access.log
  export HL_GATEWAY_TEMP=$STATE/temp
  export HL_GATEWAY_WEB_ROOT=${HL_GATEWAY_WEB_ROOT:-$HL_ROOT/deploy/gateway/web}
  export HL_GATEWAY_WORKERS=${HL_GATEWAY_WORKERS:-auto}
  export HL_GATEWAY_WORKER_CONNECTIONS=${HL_GATEWAY_WORKER_CONNECTIONS:-16384}
  # Descriptors per worker: as many as the hard limit allows (nginx cannot raise it).
  local hard; hard=$(ulimit -Hn); [[ $hard == unlimited ]] && hard=1048576
  export HL_GATEWAY_NOFILE=${HL_GATEWAY_NOFILE:-$((hard < 65536 ? hard : 65536))}
  export HL_GATEWAY_HEADER_TIMEOUT=${HL_GATEWAY_HEADER_TIMEOUT:-10s}
  export HL_GATEWAY_BODY_TIMEOUT=${HL_GATEWAY_BODY_TIMEOUT:-10s}
  export HL_GATEWAY_KEEPALIVE_TIMEOUT=${HL_GATEWAY_KEEPALIVE_TIMEOUT:-75s}
  export HL_GATEWAY_WRITE_RATE=${HL_GATEWAY_WRITE_RATE:-20r/s}
  export HL_GATEWAY_WRITE_BURST=${HL_GATEWAY_WRITE_BURST:-40}
  export HL_GATEWAY_LOGIN_RATE=${HL_GATEWAY_LOGIN_RATE:-1r/s}
  export HL_GATEWAY_LOGIN_BURST=${HL_GATEWAY_LOGIN_BURST:-10}
  export HL_GATEWAY_CONNS_PER_ADDR=${HL_GATEWAY_CONNS_PER_ADDR:-256}
  export HL_GATEWAY_COMMAND_KEEPALIVE=${HL_GATEWAY_COMMAND_KEEPALIVE:-8}
  export HL_GATEWAY_QUERY_KEEPALIVE=${HL_GATEWAY_QUERY_KEEPALIVE:-16}
  local trusted=${HL_GATEWAY_TRUSTED-127.0.0.1} t lines=""
  IFS=, read -ra tl <<< "$trusted"
  for t in "${tl[@]}"; do [[ -n $t ]] && lines+="$t 1; "; done
  export HL_GATEWAY_TRUSTED=$lines
  local origins=${HL_CORS_ORIGINS-http://127.0.0.1:$HL_GATEWAY_PORT,http://localhost:$HL_GATEWAY_PORT} o
  lines=""
  IFS=, read -ra ol <<< "$origins"
  for o in "${ol[@]}"; do
    [[ -z $o ]] && continue
    [[ $o =~ ^https?://[A-Za-z0-9.-]+(:[0-9]+)?$ ]] || hl_die "HL_CORS_ORIGINS: '$o' is not an origin (scheme://host[:port])"
    lines+="\"$o\" \$http_origin; "
  done
  export HL_GATEWAY_CORS_ORIGINS=$lines
  export HL_GATEWAY_COMMAND_SERVERS
  HL_GATEWAY_COMMAND_SERVERS=$(server_lines "${HL_GATEWAY_COMMAND_UPSTREAMS:-127.0.0.1:$HL_COMMAND_PORT}")
  export HL_GATEWAY_QUERY_SERVERS
  HL_GATEWAY_QUERY_SERVERS=$(server_lines "${HL_GATEWAY_QUERY_UPSTREAMS:-127.0.0.1:$HL_QUERY_PORT}")
  export HL_GATEWAY_STREAM_SERVERS
  HL_GATEWAY_STREAM_SERVERS=$(server_lines "${HL_GATEWAY_STREAM_UPSTREAMS:-127.0.0.1:$HL_STREAM_PORT}")
  export HL_GATEWAY_MEDIA_SERVERS HL_GATEWAY_MEDIA_BUCKET=${HL_S3_BUCKET}
  HL_GATEWAY_MEDIA_SERVERS=$(server_lines "${HL_GATEWAY_MEDIA_UPSTREAMS:-127.0.0.1:$HL_S3_PORT}")
  export HL_GATEWAY_MEDIA_CACHE_SIZE=${HL_GATEWAY_MEDIA_CACHE_SIZE:-1g}
  export HL_GATEWAY_TLS=""
  if [[ -n ${HL_TLS_CERT:-} || -n ${HL_TLS_KEY:-} ]]; then
    [[ -r ${HL_TLS_CERT:-} && -r ${HL_TLS_KEY:-} ]] || hl_die "HL_TLS_CERT and HL_TLS_KEY must both name readable PEM files"
    HL_GATEWAY_TLS="listen 127.0.0.1:$HL_GATEWAY_TLS_PORT ssl http2; ssl_certificate $HL_TLS_CERT; ssl_certificate_key $HL_TLS_KEY; ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:hl_tls:10m;"
  fi
  export HL_GATEWAY_USER_DIRECTIVE=""
  if [[ $(id -u) == 0 ]] && id www-data >/dev/null 2>&1; then
    # Started as root (CI, containers): the workers drop to www-data and own the temp files.
    HL_GATEWAY_USER_DIRECTIVE="user www-data;"
    chown www-data "$STATE/temp"
  fi
  local vars
  vars=$(grep -o '\${HL_GATEWAY_[A-Z_]*}' "$TEMPLATE" | sort -u | tr '\n' ' ')
  envsubst "$vars" < "$TEMPLATE" > "$CONF.tmp"
  nginx -t -q -p "$STATE" -c "$CONF.tmp" -e "$HL_LOG_DIR/$NAME-error.log" 2>"$STATE/nginx-t.log" \
    || { cat "$STATE/nginx-t.log" >&2; hl_die "rendered configuration $CONF.tmp does not pass nginx -t"; }
  mv "$CONF.tmp" "$CONF"
}

running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  install
  if running; then hl_say "$NAME already running (pid $(cat "$PIDFILE"))"; return 0; fi
  if hl_port_open "$HL_GATEWAY_PORT"; then hl_die "port $HL_GATEWAY_PORT is taken by another process: cannot start $NAME"; fi
  render
  rm -f "$STATE/temp/internal.sock"
  # nginx daemonises itself and writes $PIDFILE (the master's pid): the pid we stop later.
  nginx -p "$STATE" -c "$CONF" -e "$HL_LOG_DIR/$NAME-error.log" \
    || { tail -n 20 "$HL_LOG_DIR/$NAME-error.log" >&2; hl_die "nginx did not start"; }
  hl_wait_for 20 "$NAME on :$HL_GATEWAY_PORT" curl -fsS -o /dev/null "http://127.0.0.1:$HL_GATEWAY_PORT/healthz" \
    || hl_die "$NAME did not answer /healthz; see $HL_LOG_DIR/$NAME-error.log"
  hl_say "$NAME ready on http://127.0.0.1:$HL_GATEWAY_PORT (pid $(cat "$PIDFILE"))"
}

stop() {
  running || { rm -f "$PIDFILE"; return 0; }
  local pid; pid=$(cat "$PIDFILE")
  kill -QUIT "$pid" 2>/dev/null || true   # graceful: finish requests in flight, then exit
  local deadline=$((SECONDS + 15))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; sleep 1; fi
  rm -f "$PIDFILE"
  hl_say "$NAME stopped"
}

reload() {
  running || hl_die "$NAME is not running"
  render
  kill -HUP "$(cat "$PIDFILE")"
  hl_say "$NAME reloaded"
}

case "${1:-}" in
  install) install ;;
  render) install; render; echo "$CONF" ;;
  start) start ;;
  stop) stop ;;
  reload) reload ;;
  status) running && echo "$NAME running (pid $(cat "$PIDFILE"))" || { echo "$NAME stopped"; exit 1; } ;;
  *) echo "usage: $0 install|render|start|stop|reload|status" >&2; exit 2 ;;
esac
