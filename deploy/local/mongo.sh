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
# SQLite PRAGMA synchronous of the read-model store (launcher flag -sqlite-synchronous). With
# "normal" (WAL) a commit is durable once FerretDB returns as long as the machine stays up (a
# killed FerretDB loses nothing); a power loss may take back the last commits, after which
# `projector replay` or `projector rebuild` re-derives them. "full" fsyncs every statement's
# transaction: bench/projector_bench.sh measured 380 inputs/s with it vs 607 with normal.
HL_FERRETDB_SYNCHRONOUS=${HL_FERRETDB_SYNCHRONOUS:-normal}

# HL_FERRETDB_PATCH=1 (default) builds against a copy of FerretDB with patch_ferretdb applied;
# HL_FERRETDB_PATCH=0 builds the module exactly as published.
HL_FERRETDB_PATCH=${HL_FERRETDB_PATCH:-1}

# patch_ferretdb DIR — seven small fixes to FerretDB 1.24 (SQLite backend and the update command),
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
#  4. _id lists and _id string ranges reach an index (the read models key every list by _id:
#     docs/read-models.md). Without it {_id: {$in: [...]}} and {_id: {$gte: a, $lt: b}} scan and
#     json-decode the whole table (~35 us per document). The unique _id index cannot serve ranges
#     exactly: it holds the JSON text of the value ("..." with encoding/json escapes: \" \\ \n
#     \u003c for <, > and &, \u2028...), whose byte order is not the strings' order (a closing "
#     sorts above "!", every escape starts with \ = 0x5c wherever the character sorts). So every
#     table also gets an index on  _ferretdb_sjson->>'_id'  (SQLite's unescaped value: a string
#     _id is exactly its text, compared bytewise as MongoDB and FerretDB compare strings; numbers
#     sort below all text) - created with the table, and for tables made by an older build when
#     the database is opened. Query then adds, for the _id part of any filter whose _id is an
#     operator document: $eq/$gt/$gte/$lt/$lte with a string operand as  ->>'_id' <op> ?,  and
#     $in whose elements are all strings (1..1000) as  ->>'_id' IN (...). Each pushed condition
#     is implied by the filter (an implicit AND), only strings can satisfy a string bound or
#     equality (FerretDB brackets types: a number or ObjectID never matches {$gte: "a"}; an _id is
#     never an array), and FerretDB re-applies the whole filter to what the backend returns, so a
#     result is the same set as without the patch; only the rows read differ. Other operators
#     ($ne, $nin, $regex, $not...), non-string operands and empty $in are left to the full scan.
#     Explain shows the SQLite plan of that partial pushdown (filterPushdown stays false).
#     tests/e2e/test_ferretdb_pushdown.py checks results against a Python model of MongoDB's
#     string order on escape-heavy _ids, and that the plan uses the index.
#  5. Every write transaction of a database (InsertAll, UpdateAll) first takes a mutex of that
#     database. SQLite lets one connection write at a time; without the mutex, concurrent writers
#     (the projector writes several collections at once) meet SQLITE_BUSY and SQLite's busy
#     handler sleeps 1, 2, 5, 10... ms before it tries again, so two clients writing at once were
#     slower than one (113 vs 315 inputs/s in bench/projector_bench.sh). With the mutex a
#     waiting writer starts the moment the previous one commits, while finds and the JSON work
#     of other statements still run in parallel. Nothing is nested inside InTransaction.
#  6. The resource tracker (internal/util/resource: a leak check that records every query
#     iterator in a pprof profile with its stack and a finalizer) becomes a no-op: it took 9.6 %
#     of FerretDB's CPU under the projector's writes (perf record). Only the panic on an
#     iterator that was never closed goes with it.
#  7. A find whose filter is only an _id range that patch 4 pushes down completely
#     ($eq/$gt/$gte/$lt/$lte with string operands), sorted by {_id: 1} or {_id: -1}, without skip
#     and with a limit, has SQLite sort and limit it: ORDER BY the unescaped _id (bytewise, the
#     order FerretDB and MongoDB give strings) LIMIT n, on the patch-4 index. For the rows to be
#     exactly the matches, the pushed-down conditions also require the _id's schema type to be
#     string (an ObjectID _id is stored as its hex text, which a string range would otherwise
#     return and FerretDB then drop, leaving a limited page short). FerretDB still filters, sorts
#     and limits what comes back, so the result is the same; without the patch a page read
#     every document of the range (a one-letter user search read all of that letter's
#     user_names keys). Other finds are untouched.
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
  # 4
  local reg=$dir/internal/backends/sqlite/metadata/registry.go
  cat > "$dir/internal/backends/sqlite/metadata/hl_id_text.go" <<'GOEOF'
package metadata

import (
	"context"
	"fmt"

	"github.com/FerretDB/FerretDB/internal/util/fsql"
)

// IDTextColumn is the unescaped value of _id (hl patch 4: text for a string _id).
const IDTextColumn = DefaultColumn + "->>'_id'"

// hlIDTextIndex creates the index on IDTextColumn of table when it is missing (hl patch 4).
func hlIDTextIndex(ctx context.Context, db *fsql.DB, table string) error {
	q := fmt.Sprintf("CREATE INDEX IF NOT EXISTS %q ON %q (%s)", table+"__hl_id_text", table, IDTextColumn)
	_, err := db.ExecContext(ctx, q)
	return err
}
GOEOF
  cat > "$dir/internal/backends/sqlite/hl_pushdown.go" <<'GOEOF'
package sqlite

import (
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/types"
)

// hlIDPushdown returns a WHERE clause implied by the _id part v of a filter when v is an operator
// document with string operands (hl patch 4, see deploy/local/mongo.sh): $eq/$gt/$gte/$lt/$lte
// and $in of 1..1000 strings, on the unescaped _id (index <table>__hl_id_text). ok is false when
// nothing can be pushed down.
func hlIDPushdown(v any) (where string, args []any, ok bool) {
	d, isDoc := v.(*types.Document)
	if !isDoc || d.Len() == 0 {
		return "", nil, false
	}

	ops := map[string]string{"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

	var conds []string

	for _, k := range d.Keys() {
		if !strings.HasPrefix(k, "$") {
			return "", nil, false // an _id that is a document: equality, not operators
		}

		val, _ := d.Get(k)

		if op, cmp := ops[k]; cmp {
			if s, isStr := val.(string); isStr {
				conds = append(conds, metadata.IDTextColumn+" "+op+" ?")
				args = append(args, s)
			}

			continue
		}

		if k != "$in" {
			continue
		}

		arr, isArr := val.(*types.Array)
		if !isArr || arr.Len() == 0 || arr.Len() > 1000 {
			continue
		}

		in := make([]any, 0, arr.Len())

		for i := 0; i < arr.Len(); i++ {
			e, _ := arr.Get(i)
			s, isStr := e.(string)
			if !isStr {
				in = nil
				break
			}

			in = append(in, s)
		}

		if in == nil {
			continue
		}

		conds = append(conds, metadata.IDTextColumn+" IN (?"+strings.Repeat(", ?", len(in)-1)+")")
		args = append(args, in...)
	}

	if len(conds) == 0 {
		return "", nil, false
	}

	// Only a string _id can satisfy these conditions, but an ObjectID _id is stored as its hex
	// text too: keep to _ids whose schema type is string, so that the rows are exactly the
	// matches and SQLite may also sort and limit them (hl patch 7).
	conds = append(conds, metadata.DefaultColumn+`->>'$."$s".p._id.t' = 'string'`)

	return " WHERE " + strings.Join(conds, " AND "), args, true
}
GOEOF
  # Query: inside the (patch 2) _id block, before the equality switch
  awk '/^func \(c \*collection\) Query\(/ {q=1}
       q && !done && /^\t\tswitch v.\(type\) \{$/ {
         print "\t\tif w, a, ok := hlIDPushdown(v); ok { // hl patch 4"
         print "\t\t\twhereClause, args = w, a"
         print "\t\t}"
         done=1
       }
       {print}' "$coll" > "$coll.hl" && mv "$coll.hl" "$coll"
  # Explain: the same partial pushdown in the plan shown (filterPushdown unchanged)
  sed -i '/^func (c \*collection) Explain(/,/^}/s|^\torderByClause := prepareOrderByClause(params.Sort)$|\tif whereClause == "" \&\& params.Filter != nil { // hl patch 4\
\t\tif v, _ := params.Filter.Get("_id"); v != nil {\
\t\t\tif w, a, ok := hlIDPushdown(v); ok {\
\t\t\t\twhereClause, args = w, a\
\t\t\t}\
\t\t}\
\t}\
\n&|' "$coll"
  [[ $(grep -c "hl patch 4" "$coll") == 2 ]] || return 1
  # the index: for new tables after the unique _id index, for existing ones when a database opens
  sed -i '/^func (r \*Registry) collectionCreate(/,/^}/s|^\treturn true, nil$|\tif err = hlIDTextIndex(ctx, db, tableName); err != nil { // hl patch 4\
\t\t_, _ = r.collectionDrop(ctx, dbName, collectionName)\
\t\treturn false, lazyerrors.Error(err)\
\t}\
\n&|' "$reg"
  sed -i '/^func (r \*Registry) initCollections(/,/^}/s|^\tr.colls\[dbName\] = colls$|\tfor _, c := range colls { // hl patch 4\
\t\tif err = hlIDTextIndex(ctx, db, c.TableName); err != nil {\
\t\t\treturn lazyerrors.Error(err)\
\t\t}\
\t}\
\n&|' "$reg"
  [[ $(grep -c "hl patch 4" "$reg") == 2 ]] || return 1
  # 5
  local fdb=$dir/internal/util/fsql/db.go
  sed -i 's|^\t"database/sql"$|&\n\t"sync" // hl patch 5|' "$fdb"
  sed -i '/^type DB struct {$/,/^}/s|^\tBatchSize int$|&\n\thlTxMu    sync.Mutex // hl patch 5: one write transaction at a time|' "$fdb"
  sed -i 's|^func (db \*DB) InTransaction(ctx context.Context, f func(\*Tx) error) (err error) {$|&\n\tdb.hlTxMu.Lock() // hl patch 5\n\tdefer db.hlTxMu.Unlock()|' "$fdb"
  [[ $(grep -c "hl patch 5" "$fdb") == 3 ]] || return 1
  # 6
  local res=$dir/internal/util/resource/resource.go
  sed -i 's|^func Track(obj any, token \*Token) {$|&\n\tif hlNoTracking { // hl patch 6\n\t\treturn\n\t}|; s|^func Untrack(obj any, token \*Token) {$|&\n\tif hlNoTracking { // hl patch 6\n\t\treturn\n\t}|' "$res"
  printf '\n// hlNoTracking turns Track and Untrack into no-ops (hl patch 6).\nconst hlNoTracking = true\n' >> "$res"
  [[ $(grep -c "hl patch 6" "$res") == 3 ]] || return 1
  # 7
  local find=$dir/internal/handler/msg_find.go query=$dir/internal/backends/sqlite/query.go
  cat > "$dir/internal/handler/hl_id_range_sort.go" <<'GOEOF'
package handler

import "github.com/FerretDB/FerretDB/internal/types"

// hlIDRangeSort reports whether a find with this filter and sort may have its sort and limit
// done by SQLite (hl patch 7, see deploy/local/mongo.sh): the filter is only an _id range whose
// every condition patch 4 pushes down ($eq/$gt/$gte/$lt/$lte with a string operand), so the
// rows SQLite returns are exactly the matches, and the sort is {_id: 1} or {_id: -1}, which
// ORDER BY the unescaped _id gives for strings (bytewise, as FerretDB compares strings).
func hlIDRangeSort(filter, sort *types.Document) bool {
	if filter == nil || sort == nil || filter.Len() != 1 || sort.Len() != 1 {
		return false
	}

	if _, err := sort.Get("_id"); err != nil {
		return false
	}

	v, _ := filter.Get("_id")

	d, ok := v.(*types.Document)
	if !ok || d.Len() == 0 {
		return false
	}

	for _, k := range d.Keys() {
		switch k {
		case "$eq", "$gt", "$gte", "$lt", "$lte":
		default:
			return false
		}

		if op, _ := d.Get(k); op == nil {
			return false
		} else if _, isStr := op.(string); !isStr {
			return false
		}
	}

	return true
}
GOEOF
  # find and explain take the same pushdown, just before they use their query parameters
  local pushdown='\tif !h.DisablePushdown \&\& params.Skip == 0 \&\& params.Limit > 0 \&\& qp.Sort == nil \&\& qp.Limit == 0 \&\& hlIDRangeSort(params.Filter, params.Sort) { // hl patch 7\n\t\tqp.Sort = params.Sort\n\t\tqp.Limit = params.Limit\n\t}\n\n'
  sed -i "s|^\th.L.DebugContext(ctx, fmt.Sprintf(\"Converted %+v for %+v to %+v.\", params, cInfo, qp))\$|$pushdown&|" "$find"
  [[ $(grep -c "hl patch 7" "$find") == 1 ]] || return 1
  sed -i '/^func prepareOrderByClause(/,/^}/s|^	v := must.NotFail(sort.Get("$natural"))$|	if id, err := sort.Get("_id"); err == nil { // hl patch 7: {_id: 1\|-1} on the unescaped _id\n\t\tif n, _ := id.(int64); n == -1 {\n\t\t\treturn " ORDER BY " + metadata.IDTextColumn + " DESC"\n\t\t}\n\n\t\treturn " ORDER BY " + metadata.IDTextColumn\n\t}\n\n&|' "$query"
  [[ $(grep -c "hl patch 7" "$query") == 1 ]] || return 1
  local expl=$dir/internal/handler/msg_explain.go bcoll=$dir/internal/backends/collection.go
  sed -i "s|^\tres, err := coll.Explain(connCtx, qp)\$|$pushdown&|" "$expl"
  [[ $(grep -c "hl patch 7" "$expl") == 1 ]] || return 1
  # the backend contract asserts that a pushed-down sort is $natural: accept {_id: 1|-1} too
  sed -i 's|^\t\tsortValue := params.Sort.Map()\["\$natural"\].(int64)$|\t\tsortValue, natural := params.Sort.Map()["$natural"].(int64)\n\t\tif !natural { // hl patch 7\n\t\t\tsortValue = params.Sort.Map()["_id"].(int64)\n\t\t}|' "$bcoll"
  [[ $(grep -c "hl patch 7" "$bcoll") == 2 ]] || return 1
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
    patches=sqlite-id-index,update-close-cursor,sqlite-id-range-in,sqlite-tx-mutex,no-resource-tracking,sqlite-id-sort-limit
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

cmd=${1:-}; shift || true
case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
