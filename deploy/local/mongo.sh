#!/usr/bin/env bash
# MongoDB-wire server: FerretDB $HL_FERRETDB_VERSION embedded in a small Go launcher
# (deploy/local/ferretdb), SQLite backend under $HL_STACK_DIR/ferretdb, loopback port $HL_MONGO_PORT.
# Usage: mongo.sh install|start|stop|status
#   install  go build the launcher into $HL_CACHE_DIR/ferretdb/hl-ferretdb when missing or when its
#            sources (main.go, go.mod, go.sum, patch_ferretdb) changed; needs Go >= 1.24 (or a module
#            proxy to fetch it). HL_FERRETDB_PATCH=0 builds FerretDB unpatched (see patch_ferretdb).
#   start    install, start in the background, wait until it answers {ping: 1}; harmless when running
#   stop     SIGTERM (graceful), then SIGKILL after 30 s; leaves no process
#   status   exit 0 when our process is alive and answers ping
# A client: deploy/local/mongosh.sh (npm mongosh, installed on first use).
set -euo pipefail
source "$(dirname "$0")/env.sh"; source "$(dirname "$0")/lib.sh"
HL_COMPONENT=ferretdb
SRC=$(cd "$(dirname "$0")/ferretdb" && pwd)
BIN=$HL_CACHE_DIR/ferretdb/hl-ferretdb
STAMP=$BIN.sha256
DATA=$HL_STACK_DIR/ferretdb
NAME=ferretdb
LOG=$HL_LOG_DIR/$NAME.log
LISTEN=127.0.0.1:$HL_MONGO_PORT
URI=mongodb://$LISTEN/
GO_MIN_MINOR=24   # go.mod says "go 1.24" (FerretDB 1.24 needs it)
# info logs every client connection; FerretDB logs every error reply (E11000 too) as a WARN dump.
HL_FERRETDB_LOG_LEVEL=${HL_FERRETDB_LOG_LEVEL:-info}

# HL_FERRETDB_PATCH=1 (default) builds against a copy of FerretDB with patch_ferretdb applied;
# HL_FERRETDB_PATCH=0 builds the module exactly as published.
HL_FERRETDB_PATCH=${HL_FERRETDB_PATCH:-1}

# patch_ferretdb DIR — three small fixes to FerretDB 1.24 (SQLite backend and the update command),
# applied to a writable copy of the module. Measured on v1.24.2 without them: every update/delete
# by _id scans and json-parses the whole table (~40 ms per update at 10,000 documents, growing
# linearly), and one `update` command with 100 or more matching single-document statements (a
# driver bulk write) deadlocks the whole server until it is restarted.
#  1. The backend looks documents up with  _ferretdb_sjson->'$._id' = ?  while the unique _id
#     index is on  _ferretdb_sjson->"_id"; SQLite cannot match the two expressions, so it scans.
#     Writing the lookup as ->'_id' (same value) lets SQLite use the index.
#  2. _id is pushed down only when it is the whole filter; {_id: X, version: {$lt: N}} (a guarded
#     upsert) scanned every document. Pushing down the _id part is safe: every caller re-applies
#     the complete filter to what the backend returns (FilterIterator / FilterDocument), so results
#     are identical, only found through the index. Only string/ObjectId _id values are pushed down.
#  3. The update command keeps each statement's read cursor (a pooled SQLite connection, 100 at
#     most) open until the whole command ends (a `defer` inside the loop): the 100th matching
#     statement waits forever for a connection and every other client blocks behind it. Closing
#     the cursor after each statement, as the delete command already does, removes the deadlock.
patch_ferretdb() {
  local dir=$1
  local meta=$dir/internal/backends/sqlite/metadata/metadata.go coll=$dir/internal/backends/sqlite/collection.go
  local upd=$dir/internal/handler/msg_update.go
  # 1
  sed -i "s|IDColumn = DefaultColumn + \"->'\\\$._id'\"|IDColumn = DefaultColumn + \"->'_id'\"|" "$meta"
  grep -q "IDColumn = DefaultColumn + \"->'_id'\"" "$meta" || return 1
  # 2: only the first occurrence (in Query); Explain keeps reporting exact pushdowns only.
  sed -i '0,/if params.Filter.Len() == 1 {/s//if params.Filter.Len() >= 1 {/' "$coll"
  awk '/^func \(c \*collection\) Query\(/ {q=1} /^func \(c \*collection\) InsertAll\(/ {q=0}
       q && /if params.Filter.Len\(\) >= 1 \{/ {n++} END {exit n == 1 ? 0 : 1}' "$coll" || return 1
  # 3
  sed -i '/^\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)$/a\
\t\tcloser.Close() // hl patch: release this statement'"'"'s read connection now' "$upd"
  [[ $(grep -c "closer.Close() // hl patch" "$upd") == 1 ]] || return 1
}

# Rebuild when the launcher sources, the patch, or the patch switch change.
src_hash() {
  { (cd "$SRC" && cat main.go go.mod go.sum); echo "patch=$HL_FERRETDB_PATCH"; declare -f patch_ferretdb; } \
    | sha256sum | cut -d' ' -f1
}

install() {
  grep -q "github.com/FerretDB/FerretDB $HL_FERRETDB_VERSION\$" "$SRC/go.mod" \
    || hl_die "$SRC/go.mod does not require FerretDB $HL_FERRETDB_VERSION (env.sh); update it with go get + go mod tidy"
  local want; want=$(src_hash)
  if [[ -x $BIN && -f $STAMP && $(cat "$STAMP") == "$want" ]]; then return 0; fi

  command -v go >/dev/null || hl_die "Go is needed to build the FerretDB launcher (Debian: golang-go, or https://go.dev/dl)"
  # Build exactly what go.mod/go.sum pin, whatever the caller's environment says:
  #  - GOWORK=off: ignore any go.work above us;
  #  - -mod=readonly on the command line overrides GOFLAGS=-mod=mod|vendor (go.sum is never rewritten);
  #  - -buildvcs=false: no git needed (the launcher is a subdirectory of our repo);
  #  - CGO_ENABLED=0: FerretDB's SQLite is modernc.org/sqlite (pure Go), so no C compiler is needed;
  #  - Go older than 1.24 with GOTOOLCHAIN=local cannot build go.mod's "go 1.24": ask the module
  #    proxy for a 1.24 toolchain instead of failing (Go >= 1.21 knows how).
  export GOWORK=off CGO_ENABLED=0
  local gov; gov=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null || true)
  local minor; minor=$(sed -nE 's/^go1\.([0-9]+).*/\1/p' <<<"$gov")
  if [[ -n $minor ]] && ((minor < GO_MIN_MINOR)); then
    ((minor >= 21)) || hl_die "$gov is too old to build the launcher (need go1.$GO_MIN_MINOR or newer)"
    export GOTOOLCHAIN=go1.$GO_MIN_MINOR.3
    hl_say "$gov is older than go1.$GO_MIN_MINOR: using GOTOOLCHAIN=$GOTOOLCHAIN (from the module proxy)"
  fi
  hl_dirs
  mkdir -p "$(dirname "$BIN")"
  # Private work dir: the dev and test profiles share $HL_CACHE_DIR and may build at once.
  local work; work=$(mktemp -d "$(dirname "$BIN")/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  local modflags=() patches=none
  if [[ $HL_FERRETDB_PATCH == 1 ]]; then
    # The module as go.sum pins it (verified download), copied and patched, then used through a
    # replace directive in a private copy of go.mod: the committed go.mod/go.sum stay untouched.
    local dir
    dir=$(cd "$SRC" && go mod download -json "github.com/FerretDB/FerretDB" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')
    [[ -n $dir && -d $dir ]] || hl_die "cannot download FerretDB $HL_FERRETDB_VERSION (go mod download)"
    cp -R "$dir" "$work/FerretDB" && chmod -R u+w "$work/FerretDB"
    patch_ferretdb "$work/FerretDB" \
      || hl_die "patch_ferretdb no longer applies to FerretDB $HL_FERRETDB_VERSION; fix it or set HL_FERRETDB_PATCH=0"
    cp "$SRC/go.mod" "$work/go.mod"; cp "$SRC/go.sum" "$work/go.sum"
    printf '\nreplace github.com/FerretDB/FerretDB => %s\n' "$work/FerretDB" >> "$work/go.mod"
    modflags=(-modfile="$work/go.mod")
    patches=sqlite-id-index,update-close-cursor
  fi
  hl_say "building launcher (FerretDB $HL_FERRETDB_VERSION, patches: $patches) -> $BIN"
  local t0=$SECONDS
  (cd "$SRC" && go build "${modflags[@]}" -mod=readonly -trimpath -buildvcs=false \
      -ldflags "-X main.patches=$patches" -o "$work/hl-ferretdb" .) \
    || hl_die "go build failed in $SRC"
  mv -f "$work/hl-ferretdb" "$BIN"
  echo "$want" > "$STAMP"
  rm -rf "$work"; trap - EXIT
  hl_say "built in $((SECONDS - t0))s"
}

ping_ok() { hl_port_open "$HL_MONGO_PORT" && "$BIN" -ping "$LISTEN" 2>/dev/null; }

# Readiness probe for hl_wait_for: done when the server answers, or when our process has died
# (no point waiting out the timeout then; start() tells the two apart).
started_or_dead() { ! hl_pid_alive "$NAME" || ping_ok; }

start() {
  install
  if hl_pid_alive "$NAME"; then
    if hl_wait_for 30 "FerretDB ping on $LISTEN" ping_ok; then
      hl_say "already running (pid $(cat "$HL_RUN_DIR/$NAME.pid")): $URI"
      return 0
    fi
    hl_die "FerretDB (pid $(cat "$HL_RUN_DIR/$NAME.pid")) is running but does not answer ping on $LISTEN; see $LOG"
  fi
  hl_port_open "$HL_MONGO_PORT" \
    && hl_die "port $HL_MONGO_PORT is already taken by another process (not ours); set HL_MONGO_PORT"
  mkdir -p "$DATA" 2>/dev/null || hl_die "cannot create the data directory $DATA"
  hl_dirs
  printf -- '--- %s start %s\n' "$(date -u +%FT%TZ)" "$BIN" >> "$LOG"
  hl_start_bg "$NAME" "$BIN" -listen "$LISTEN" -sqlite-dir "$DATA" -log-level "$HL_FERRETDB_LOG_LEVEL"
  if ! hl_wait_for 60 "FerretDB ping on $LISTEN" started_or_dead; then
    hl_die "FerretDB did not answer ping on $LISTEN within 60s; see $LOG"
  fi
  if ! hl_pid_alive "$NAME"; then
    rm -f "$HL_RUN_DIR/$NAME.pid"
    tail -n 20 "$LOG" >&2 || true
    hl_die "FerretDB exited during start; see $LOG"
  fi
  hl_say "ready: mongodb://$LISTEN/$HL_MONGO_DB (pid $(cat "$HL_RUN_DIR/$NAME.pid"), data $DATA)"
}

stop() {
  if hl_pid_alive "$NAME"; then
    hl_stop_bg "$NAME" 30
    hl_say "stopped"
  else
    rm -f "$HL_RUN_DIR/$NAME.pid"
  fi
}

status() {
  if hl_pid_alive "$NAME" && [[ -x $BIN ]] && ping_ok; then
    hl_say "running (pid $(cat "$HL_RUN_DIR/$NAME.pid")): $URI"
  else
    hl_say "not running"; return 1
  fi
}

cmd=${1:-}; shift || true
case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
