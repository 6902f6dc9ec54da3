#!/usr/bin/env bash
# Gateway benchmark (`make bench-gateway`; prints figures, not a test): wrk through the gateway
# and directly to the servers in the same run, at 32 and 1,000 connections, for a profile read
# (GET /v1/users/{id}) and a send-message write (POST /v1/chat-rooms/{id}/messages): requests/s,
# p50/p99, errors and the ratio gateway / direct. Then the p99 of a read through the gateway
# while 5,000 idle keep-alive connections are held open on it. Against a running stack
# (HL_PROFILE=dev by default: `make up`).
#
# Env: BENCH_DURATION (s per run, default 10), BENCH_CONNECTIONS (default "32 1000"),
#      BENCH_IDLE (idle connections of the last phase, default 5000).
# Report: printed and written to $HL_STACK_DIR/bench/gateway-<utc time>.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-32 1000}
IDLE=${BENCH_IDLE:-5000}
GW=http://127.0.0.1:$HL_GATEWAY_PORT
CMD=http://127.0.0.1:$HL_COMMAND_PORT
QRY=http://127.0.0.1:$HL_QUERY_PORT
command -v wrk >/dev/null || bash "$HERE/../deploy/local/deps.sh" stack
for u in "$GW" "$CMD" "$QRY"; do
  curl -fsS -o /dev/null "$u/healthz" || { echo "[bench] nothing answers $u/healthz (make up?)" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)"   # 1,000 wrk connections and 5,000 idle ones need descriptors
PY=${HL_CACHE_DIR}/venv/bin/python
[[ -x $PY ]] || PY=python3

echo "[bench] seeding a user, a friend and a room through $GW" >&2
seed=$("$PY" "$HERE/query_seed.py" "$GW" "$GW" --rooms 1 --messages 1)
field() { "$PY" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$seed" "$1"; }
user=$(field user_id); token=$(field token); room=$(field room_id)

out_dir=$HL_STACK_DIR/bench; mkdir -p "$out_dir"
report=$out_dir/gateway-$(date -u +%Y%m%dT%H%M%SZ).txt
lua=$out_dir/send-message.lua
cat > "$lua" <<EOF
-- one message per request, each with its own client_message_id
local n = 0
local prefix = string.format("%x", math.random(1, 2^30))
request = function()
  n = n + 1
  local body = '{"body":"bench","client_message_id":"' .. prefix .. '-' .. n .. '"}'
  return wrk.format("POST", "/v1/chat-rooms/$room/messages",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $token"}, body)
end
EOF

# measure URL [wrk args...] -> "rps p50_ms p99_ms errors" (conns from the caller's loop)
measure() {
  local url=$1; shift
  local txt
  txt=$(wrk -t2 -c"$conns" -d"${DURATION}s" --timeout 5s --latency "$@" "$url" 2>&1) || true
  local rps p50 p90 p99 mx errs
  read -r rps p50 p90 p99 mx errs <<<"$("$PY" "$HERE/wrk_summary.py" "$txt")"
  echo "$rps $p50 $p99 $errs"
}

printf '%-22s %6s %-8s %9s %9s %9s %9s %8s\n' operation conns via "req/s" p50_ms p99_ms errors "gw/direct" | tee "$report"
for conns in $CONNS; do
  for op in read write; do
    if [[ $op == read ]]; then
      g=$(measure "$GW/v1/users/$user"); d=$(measure "$QRY/v1/users/$user"); name="GET profile"
    else
      g=$(measure "$GW" -s "$lua"); d=$(measure "$CMD" -s "$lua"); name="POST message"
    fi
    read -r grps gp50 gp99 gerr <<<"$g"
    read -r drps dp50 dp99 derr <<<"$d"
    ratio=$("$PY" -c "import sys; g,d=map(float,sys.argv[1:]); print(f'{g/d:.2f}' if d else 'n/a')" "$grps" "$drps")
    printf '%-22s %6s %-8s %9s %9s %9s %9s %8s\n' "$name" "$conns" gateway "$grps" "$gp50" "$gp99" "$gerr" "$ratio" | tee -a "$report"
    printf '%-22s %6s %-8s %9s %9s %9s %9s %8s\n' "$name" "$conns" direct "$drps" "$dp50" "$dp99" "$derr" "" | tee -a "$report"
  done
done

# A read's p99 while IDLE keep-alive connections (each made one request) stay open on the gateway.
"$PY" - "$HL_GATEWAY_PORT" "$IDLE" "$user" "$DURATION" <<'PYEOF' | tee -a "$report"
import socket, sys, time
port, idle, user, duration = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
held = []
for i in range(idle):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
    held.append(s)
for s in held:
    s.recv(4096)
c = socket.create_connection(("127.0.0.1", port))
req = f"GET /v1/users/{user} HTTP/1.1\r\nHost: gw\r\n\r\n".encode()
lat, end = [], time.monotonic() + duration
while time.monotonic() < end:
    t0 = time.monotonic()
    c.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += c.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    while len(body) < length:
        body += c.recv(65536)
    lat.append((time.monotonic() - t0) * 1000)
lat.sort()
print(f"GET profile with {len(held)} idle connections held on the gateway: {len(lat)} reads, "
      f"p50 {lat[len(lat) // 2]:.2f} ms, p99 {lat[int(len(lat) * 0.99)]:.2f} ms")
for s in held:
    s.close()
PYEOF
echo "[bench] wrk -t2, ${DURATION}s per run, --timeout 5s; report: $report" >&2
