#!/usr/bin/env bash
# The web client in a real browser (issue 11): Debian's chromium driven by npm playwright-core
# (playwright's own browser download cannot work here). Installs both when missing, then runs
# chat.mjs against the gateway of HL_PROFILE's stack. Screenshots go to $HL_BROWSER_OUT
# (default build/browser).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../deploy/local/env.sh"
if ! command -v chromium >/dev/null; then
  [[ $(id -u) == 0 ]] || { echo "chromium is missing and not root: apt-get install chromium" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
PW=$HL_CACHE_DIR/playwright
if [[ ! -f $PW/node_modules/playwright-core/package.json ]]; then
  mkdir -p "$PW"
  npm install --silent --no-audit --no-fund --prefix "$PW" playwright-core@1.65.1 >/dev/null
fi
export NODE_PATH=$PW/node_modules
export HL_BROWSER_OUT=${HL_BROWSER_OUT:-$HL_BUILD_DIR/browser}
mkdir -p "$HL_BROWSER_OUT"
exec node "$HERE/chat.mjs" "http://127.0.0.1:$HL_GATEWAY_PORT"
