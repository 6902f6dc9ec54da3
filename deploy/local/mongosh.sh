#!/usr/bin/env bash
# mongosh (npm, pinned) against the local MongoDB-wire server, database $HL_MONGO_DB.
# Installs it into $HL_CACHE_DIR/npm on first use. All arguments pass through to mongosh, e.g.
#   deploy/local/mongosh.sh --quiet --eval 'db.runCommand({ping: 1})'
# Set HL_MONGO_URI to aim it elsewhere (for example at a real MongoDB); when that URI names no
# database, $HL_MONGO_DB is added.
# Usage: mongosh.sh [mongosh args...]   |   mongosh.sh --install   (install only)
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=mongosh
HL_MONGOSH_VERSION=${HL_MONGOSH_VERSION:-2.12.0}
NPM_PREFIX=$HL_CACHE_DIR/npm
MONGOSH=$NPM_PREFIX/node_modules/.bin/mongosh
URI=${HL_MONGO_URI:-mongodb://127.0.0.1:$HL_MONGO_PORT/}
if [[ $URI =~ ^(mongodb(\+srv)?://[^/?]+)/?(\?.*)?$ ]]; then
  URI=${BASH_REMATCH[1]}/$HL_MONGO_DB${BASH_REMATCH[3]}
fi

installed_version() {
  local pj=$NPM_PREFIX/node_modules/mongosh/package.json
  [[ -f $pj ]] && node -p "require('$pj').version" 2>/dev/null
}

install() {
  command -v node >/dev/null && command -v npm >/dev/null \
    || hl_die "node and npm are needed for mongosh (Debian: apt-get install nodejs npm)"
  [[ -x $MONGOSH && $(installed_version) == "$HL_MONGOSH_VERSION" ]] && return 0
  hl_dirs
  mkdir -p "$NPM_PREFIX"
  hl_say "installing mongosh@$HL_MONGOSH_VERSION from npm into $NPM_PREFIX"
  npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error \
    "mongosh@$HL_MONGOSH_VERSION" >&2 || hl_die "npm install mongosh@$HL_MONGOSH_VERSION failed"
  [[ -x $MONGOSH ]] || hl_die "mongosh not found at $MONGOSH after npm install"
}

if [[ ${1:-} == --install ]]; then install; exit 0; fi
install
exec "$MONGOSH" "$URI" "$@"
