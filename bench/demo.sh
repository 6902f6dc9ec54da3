#!/usr/bin/env bash
# `make demo` (README "Demo"): on a running stack (default: the dev profile of `make up`)
#   1. hl-loadgen at DEMO_SCALE (default 1: 1,000 users, 20,000 messages) with verification,
#   2. a few query-API answers as one of the run's busiest users (profile, chat rooms, a page of
#      messages, notifications, daily stats),
#   2b. a counselling booking (bench/demo_booking.py: counsellor, slots, directory, booking, job),
#   3. every analyst example of docs/read-models.md ("Example queries") through mongosh.
# Exit status: hl-loadgen's (0 = workload ok and zero mismatches). DEMO_ARGS go to hl-loadgen;
# DEMO_SKIP_LOADGEN=1 shows steps 2 and 3 for the last run's summary only.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
export HL_GATEWAY_PORT HL_COMMAND_PORT HL_QUERY_PORT HL_PG_PORT HL_PG_USER HL_PG_DB HL_MONGO_PORT HL_MONGO_DB \
  HL_PROJECTOR_PORT HL_CACHE_DIR
LOADGEN=$HL_BUILD_DIR/bench/hl-loadgen
[[ -x $LOADGEN ]] || { echo "demo: $LOADGEN missing: run make build" >&2; exit 2; }
SUMMARY=$HL_STACK_DIR/demo-summary.json
Q=http://127.0.0.1:$HL_GATEWAY_PORT   # the gateway: reads and writes
C=$Q

rc=0
if [[ ${DEMO_SKIP_LOADGEN:-0} != 1 ]]; then
  echo "== 1. hl-loadgen --scale=${DEMO_SCALE:-1} (profile $HL_PROFILE)"
  # shellcheck disable=SC2086
  "$LOADGEN" --scale="${DEMO_SCALE:-1}" --summary-json="$SUMMARY" ${DEMO_ARGS:-} || rc=$?
fi

show() { # title, curl args...: pretty-print a JSON answer, shortened
  local title=$1; shift
  echo; echo "-- $title"
  curl -sS "$@" | python3 -c 'import json,sys
d = json.load(sys.stdin)
if isinstance(d, dict) and isinstance(d.get("items"), list):
    items = d["items"]
    # daily stats run oldest first: show the newest days
    d["items"] = items[-3:] if items and "day" in items[0] else items[:3]
print(json.dumps(d, indent=1, ensure_ascii=False)[:2500])'
}

echo; echo "== 2. query API answers"
read -r EMAIL PASSWORD USER_ID < <(python3 -c 'import json,sys
u = json.load(open(sys.argv[1]))["sample_users"][0]
print(u["email"], u["password"], u["user_id"])' "$SUMMARY")
TOKEN=$(curl -sS -X POST "$C/v1/sessions" -H 'Content-Type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
AUTH=(-H "Authorization: Bearer $TOKEN")
show "GET /v1/users/$USER_ID (a busy user's profile)" "${AUTH[@]}" "$Q/v1/users/$USER_ID"
ROOMS=$(curl -sS "${AUTH[@]}" "$Q/v1/chat-rooms?limit=5")
show "GET /v1/chat-rooms?limit=5 (newest activity first)" "${AUTH[@]}" "$Q/v1/chat-rooms?limit=5"
ROOM=$(python3 -c 'import json,sys
items = json.loads(sys.argv[1]).get("items") or [{}]
print(items[0].get("room_id", ""))' "$ROOMS")
if [[ -n $ROOM ]]; then
  show "GET /v1/chat-rooms/$ROOM/messages?limit=3" "${AUTH[@]}" "$Q/v1/chat-rooms/$ROOM/messages?limit=3"
fi
show "GET /v1/notifications?limit=3" "${AUTH[@]}" "$Q/v1/notifications?limit=3"
show "GET /v1/friends?limit=3" "${AUTH[@]}" "$Q/v1/friends?limit=3"
show "GET /v1/stats/daily" "${AUTH[@]}" "$Q/v1/stats/daily"

echo; echo "== 2b. a counselling booking through the gateway (bench/demo_booking.py)"
HL_PAYMENT_PORT=$HL_PAYMENT_PORT HL_BUILD_DIR=$HL_BUILD_DIR python3 "$HERE/demo_booking.py" || rc=$?

echo; echo "== 3. analyst examples (docs/read-models.md) through deploy/local/mongosh.sh"
JS=$(python3 - "$HERE/../docs/read-models.md" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
start = text.index("## Example queries")
end = text.find("\n## ", start + 1)
parts = []
for code in re.findall(r"```js\n(.*?)```", text[start:end if end > 0 else len(text)], re.S):
    if code.startswith("// setup"):
        parts.append(code.strip())
        continue
    title = code.strip().splitlines()[0].lstrip("/ ").strip()
    parts.append("print(%s);" % repr("\n// " + title))
    parts.append("{ let r = (\n" + code.strip() + "\n); if (r && r.toArray) r = r.toArray();"
                 " printjson(Array.isArray(r) ? r.slice(0, 5) : r); }")
print("\n".join(parts))
PY
)
bash "$HERE/../deploy/local/mongosh.sh" --quiet --eval "$JS"
echo
[[ $rc == 0 ]] && echo "demo: hl-loadgen exit 0 (workload ok, zero mismatches)" \
  || echo "demo: hl-loadgen exit $rc (see its mismatches above)"
exit "$rc"
