#!/usr/bin/env bash
# MongoDB-wire server: FerretDB $HL_FERRETDB_VERSION embedded in a small Go launcher
# (deploy/local/ferretdb), SQLite backend under $HL_STACK_DIR/ferretdb, loopback port $HL_MONGO_PORT.
# Usage: mongo.sh install|start|stop|status|test
#   install  go build the launcher into $HL_CACHE_DIR/ferretdb/hl-ferretdb when missing or when its
#            sources (main.go, go.mod, go.sum, patches/) changed; needs Go >= 1.24 (or a module
#            proxy to fetch it) and git (git apply). HL_FERRETDB_PATCH=0 builds FerretDB unpatched.
#   test     run the patches' own Go tests (TestHL*) on a patched copy of the module
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
# SQLite PRAGMA synchronous of the read-model store (launcher flag -sqlite-synchronous). With
# "normal" (WAL) a commit is durable once FerretDB returns as long as the machine stays up (a
# killed FerretDB loses nothing); a power loss may take back the last commits, after which
# `projector replay` or `projector rebuild` re-derives them. "full" fsyncs every statement's
# transaction: bench/projector_bench.sh measured 380 inputs/s with it vs 607 with normal.
HL_FERRETDB_SYNCHRONOUS=${HL_FERRETDB_SYNCHRONOUS:-normal}

# HL_FERRETDB_PATCH=1 (default) builds against a copy of FerretDB with the patches of
# deploy/local/ferretdb/patches/ applied in order; HL_FERRETDB_PATCH=0 builds the module exactly
# as published. Seven small fixes to FerretDB 1.24's SQLite backend and update command; each file
# says what it changes and why. Measured on v1.24.2 without them: every update/delete by _id
# scans and json-parses the whole table (~40 ms per update at 10,000 documents, growing
# linearly), and one `update` command with 100 or more matching single-document statements (a
# driver bulk write) deadlocks the whole server until it is restarted.
HL_FERRETDB_PATCH=${HL_FERRETDB_PATCH:-1}
PATCHES=$SRC/patches
# Patch 6 turns FerretDB's resource tracker (a leak check on every query iterator, 9.6 % of its
# CPU) off unless HL_FERRETDB_TRACK_RESOURCES=1; the test stacks set it (tests/CMakeLists.txt) so
# an iterator that is never closed still panics there.
export HL_FERRETDB_TRACK_RESOURCES=${HL_FERRETDB_TRACK_RESOURCES:-0}

# patch_ferretdb DIR: apply every patch to the module copy in DIR, each checked first with
# `git apply --check`; fails (naming the patch) when one no longer applies. Git must not
# mistake DIR for a subdirectory of an enclosing repository (it would skip the paths "outside"
# it), hence GIT_CEILING_DIRECTORIES.
patch_ferretdb() {
  local dir=$1 p
  for p in "$PATCHES"/*.patch; do
    (cd "$dir" && export GIT_CEILING_DIRECTORIES=$(dirname "$dir") &&
      git apply --check "$p" && git apply "$p") || { hl_say "$(basename "$p") does not apply"; return 1; }
  done
}

# The patches' names, for the build label: "sqlite-id-index,id-part-pushdown,...".
patch_names() {
  local p names=()
  for p in "$PATCHES"/*.patch; do p=$(basename "$p" .patch); names+=("${p#[0-9][0-9][0-9][0-9]-}"); done
  local IFS=,; echo "${names[*]}"
}

# The module as go.sum pins it (verified download), copied writable into DIR/FerretDB and patched.
patched_copy() {
  local work=$1 dir
  dir=$(cd "$SRC" && go mod download -json "github.com/FerretDB/FerretDB" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')
  [[ -n $dir && -d $dir ]] || hl_die "cannot download FerretDB $HL_FERRETDB_VERSION (go mod download)"
  cp -R "$dir" "$work/FerretDB" && chmod -R u+w "$work/FerretDB"
  patch_ferretdb "$work/FerretDB" \
    || hl_die "the patches no longer apply to FerretDB $HL_FERRETDB_VERSION; fix them or set HL_FERRETDB_PATCH=0"
}

# Rebuild when the launcher sources, the patch, or the patch switch change.
src_hash() {
  { (cd "$SRC" && cat main.go go.mod go.sum patches/*.patch); echo "patch=$HL_FERRETDB_PATCH"; declare -f patch_ferretdb; } \
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
    # The patched copy is used through a replace directive in a private copy of go.mod: the
    # committed go.mod/go.sum stay untouched.
    patched_copy "$work"
    cp "$SRC/go.mod" "$work/go.mod"; cp "$SRC/go.sum" "$work/go.sum"
    printf '\nreplace github.com/FerretDB/FerretDB => %s\n' "$work/FerretDB" >> "$work/go.mod"
    modflags=(-modfile="$work/go.mod")
    patches=$(patch_names)
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
  hl_start_bg "$NAME" "$BIN" -listen "$LISTEN" -sqlite-dir "$DATA" -log-level "$HL_FERRETDB_LOG_LEVEL" \
    -sqlite-synchronous "$HL_FERRETDB_SYNCHRONOUS"
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

# test: FerretDB's Go tests of the patches (TestHL*, shipped inside the patch files) on a freshly
# patched copy; needs no server. When FerretDB is the main module build/version panics without
# version.txt and FerretDB's testutil without a .git above the working directory: the copy gets
# both (an empty .git directory is all testutil looks for).
test_patches() {
  command -v go >/dev/null || hl_die "Go is needed"
  export GOWORK=off CGO_ENABLED=0
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  patched_copy "$work"
  echo "$HL_FERRETDB_VERSION" > "$work/FerretDB/build/version/version.txt"
  mkdir -p "$work/FerretDB/.git"
  hl_say "go test -run '^TestHL' (patches: $(patch_names))"
  (cd "$work/FerretDB" && go test -count=1 -run '^TestHL' -v ./internal/backends/sqlite/ \
      ./internal/handler/ ./internal/util/resource/) || hl_die "a patch's Go test failed"
  rm -rf "$work"; trap - EXIT
}

cmd=${1:-}; shift || true
case "$cmd" in
  install) install ;;
  test) test_patches ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status|test" >&2; exit 2 ;;
esac
