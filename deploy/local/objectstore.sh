#!/usr/bin/env bash
# S3-compatible object store for uploaded media (issue 18): versitygw $HL_VERSITYGW_VERSION
# (Apache-2.0, github.com/versity/versitygw, built with `go install` from the Go module proxy into
# $HL_CACHE_DIR/objectstore) serving its posix backend from $HL_STACK_DIR/objectstore on
# 127.0.0.1:$HL_S3_PORT. `start` creates bucket $HL_S3_BUCKET and gives it a read-only public
# policy (s3:GetObject for everyone), so the gateway proxies /media/<key> without signing; writes
# need the root keys ($HL_S3_ACCESS_KEY / $HL_S3_SECRET_KEY, SigV4). Production points
# HL_S3_ENDPOINT at S3 or any S3-compatible service instead (README, deploy/compose, deploy/k8s).
# Needs: go >= 1.25 (or a module proxy that serves the toolchain), curl >= 7.75 (--aws-sigv4).
# Usage: objectstore.sh install|start|stop|status|url. Log: $HL_LOG_DIR/objectstore.log.
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=objectstore

VGW_DIR=$HL_CACHE_DIR/objectstore/versitygw-$HL_VERSITYGW_VERSION
VGW_BIN=$VGW_DIR/versitygw
DATA=$HL_STACK_DIR/objectstore
URL=http://127.0.0.1:$HL_S3_PORT

install() {
  [[ -x $VGW_BIN ]] && return 0
  command -v go >/dev/null || hl_die "Go is needed to build versitygw (Debian: golang-go, or https://go.dev/dl)"
  hl_dirs; mkdir -p "$VGW_DIR"
  hl_say "go install github.com/versity/versitygw/cmd/versitygw@$HL_VERSITYGW_VERSION (a few minutes the first time)"
  GOBIN=$VGW_DIR.tmp.$$ go install -trimpath github.com/versity/versitygw/cmd/versitygw@"$HL_VERSITYGW_VERSION" \
    >"$HL_LOG_DIR/objectstore-install.log" 2>&1 \
    || { rm -rf "$VGW_DIR.tmp.$$"; hl_die "go install versitygw failed; see $HL_LOG_DIR/objectstore-install.log"; }
  mv "$VGW_DIR.tmp.$$/versitygw" "$VGW_BIN"; rm -rf "$VGW_DIR.tmp.$$"
}

# s3 METHOD PATH [BODY]: a SigV4-signed request with the root keys; prints the HTTP status.
# S3 wants the payload's SHA-256 in x-amz-content-sha256 (curl 7.88 does not add it; newer
# curl does, and uses the value given).
s3() {
  local method=$1 path=$2 body=${3:-} sha
  sha=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
  curl -sS -o /dev/null -w '%{http_code}' -X "$method" --aws-sigv4 "aws:amz:$HL_S3_REGION:s3" \
    --user "$HL_S3_ACCESS_KEY:$HL_S3_SECRET_KEY" -H "x-amz-content-sha256: $sha" \
    ${body:+-H 'Content-Type: application/json' --data-binary "$body"} "$URL$path"
}

healthy() { [[ $(s3 GET "/") == 200 ]]; }

ensure_bucket() {
  local code
  code=$(s3 PUT "/$HL_S3_BUCKET")
  [[ $code == 200 || $code == 409 ]] || hl_die "creating bucket $HL_S3_BUCKET answered HTTP $code"
  local policy
  policy=$(printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}' "$HL_S3_BUCKET")
  code=$(s3 PUT "/$HL_S3_BUCKET?policy=" "$policy")
  [[ $code == 200 || $code == 204 ]] || hl_die "setting the public-read policy of $HL_S3_BUCKET answered HTTP $code"
}

case "${1:-}" in
  install) install ;;
  start)
    if hl_pid_alive objectstore; then hl_say "already running on :$HL_S3_PORT"; ensure_bucket; exit 0; fi
    hl_port_open "$HL_S3_PORT" && hl_die "port $HL_S3_PORT is taken by another process"
    install
    mkdir -p "$DATA"
    ROOT_ACCESS_KEY_ID=$HL_S3_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$HL_S3_SECRET_KEY VGW_REGION=$HL_S3_REGION \
      hl_start_bg objectstore "$VGW_BIN" --port "127.0.0.1:$HL_S3_PORT" --quiet posix "$DATA"
    hl_wait_for 30 "object store on :$HL_S3_PORT" healthy || hl_die "object store did not start; see $HL_LOG_DIR/objectstore.log"
    ensure_bucket
    hl_say "ready: $URL (bucket $HL_S3_BUCKET, data $DATA)" ;;
  stop) hl_stop_bg objectstore 10 ;;
  status) hl_pid_alive objectstore && echo "objectstore running" || { echo "objectstore stopped"; exit 1; } ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 install|start|stop|status|url" >&2; exit 2 ;;
esac
