#!/usr/bin/env bash
# Media benchmark (`make bench-media`, issue 18; prints figures, not a test). Against a running
# stack (HL_PROFILE=dev by default: `make up`):
#   1. avatar uploads of one ~2 MiB JPEG (3000 x 2000 px) through the gateway,
#      PUT /v1/users/me/avatar, at 1 and 8 clients (one user each): uploads/s, p50/p99, errors;
#      beside it the peer: the same bytes PUT straight to the object store (SigV4, curl) at the
#      same concurrency, i.e. what storing costs without validation and re-encoding;
#   2. CPU per upload in the command server (utime + stime of its process over the wrk run
#      divided by the uploads answered);
#   3. GET of a 512 px rendition through the gateway's /media/ cache (X-Cache-Status HIT) at 32
#      connections, beside the peer: the same object read anonymously from the object store.
# Env: BENCH_DURATION (s per run, default 10), BENCH_CLIENTS (default "1 8").
# Report: printed and written to $HL_STACK_DIR/bench/media-<utc time>.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../deploy/local/env.sh"
DURATION=${BENCH_DURATION:-10}
CLIENTS=${BENCH_CLIENTS:-1 8}
GW=http://127.0.0.1:$HL_GATEWAY_PORT
S3=http://127.0.0.1:$HL_S3_PORT
command -v wrk >/dev/null || bash "$HERE/../deploy/local/deps.sh" stack
curl -fsS -o /dev/null "$GW/healthz" || { echo "[bench] nothing answers $GW/healthz (make up?)" >&2; exit 1; }
PY=${HL_CACHE_DIR}/venv/bin/python
[[ -x $PY ]] || { echo "[bench] no venv: bash deploy/local/deps.sh test" >&2; exit 1; }
pid=$(cat "$HL_RUN_DIR/command-server.pid")

out_dir=$HL_STACK_DIR/bench; mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report=$out_dir/media-$stamp.txt
jpeg=$out_dir/bench-2mib.jpg
# A photo-like 3000 x 2000 JPEG of about 2 MiB (a gradient plus blurred noise; quality chosen).
"$PY" - "$jpeg" <<'PYEOF'
import io, random, sys
from PIL import Image, ImageFilter
random.seed(7)
w, h = 3000, 2000
base = Image.linear_gradient("L").resize((w, h)).convert("RGB")
noise = Image.frombytes("RGB", (w, h), random.randbytes(w * h * 3)).filter(ImageFilter.BoxBlur(1))
img = Image.blend(base, noise, 0.5)
best = None
for q in range(40, 100, 5):
    b = io.BytesIO()
    img.save(b, "JPEG", quality=q)
    if best is None or abs(b.tell() - 2 * 2**20) < abs(len(best) - 2 * 2**20):
        best = b.getvalue()
open(sys.argv[1], "wb").write(best)
PYEOF
size=$(stat -c %s "$jpeg")
jpeg_sha=$(sha256sum "$jpeg" | cut -d' ' -f1)

# One user (and token) per client.
maxc=0; for c in $CLIENTS; do ((c > maxc)) && maxc=$c; done
tokens=()
for ((i = 0; i < maxc; i++)); do
  email="bench-media-$stamp-$i@example.com"
  curl -fsS -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"bench-password-$i\",\"display_name\":\"Bench $i\"}" "$GW/v1/users"
  tokens+=("$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"bench-password-$i\"}" "$GW/v1/sessions" \
    | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')")
done
lua=$out_dir/media-upload.lua
{
  echo "local tokens = {$(printf '"%s",' "${tokens[@]}")}"
  echo "local f = io.open(\"$jpeg\", \"rb\"); body = f:read(\"*a\"); f:close()"
  cat <<'LUA'
local n = 0
-- one wrk thread per client, each with its own user's token
setup = function(thread) n = n + 1; thread:set("token", tokens[n]) end
request = function()
  return wrk.format("PUT", "/v1/users/me/avatar",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "image/jpeg"}, body)
end
LUA
} > "$lua"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
total_requests() { sed -nE 's/^\s*([0-9]+) requests in.*/\1/p' "$1"; }
peer_put() { # clients seconds -> "req/s p50_ms p99_ms" of PUTs of the JPEG straight to the store
  local c=$1 s=$2 dir k; dir=$(mktemp -d)
  for ((k = 0; k < c; k++)); do
    ( end=$((SECONDS + s))
      while ((SECONDS < end)); do
        curl -sS -o /dev/null -w '%{time_total}\n' -X PUT --aws-sigv4 "aws:amz:$HL_S3_REGION:s3" \
          --user "$HL_S3_ACCESS_KEY:$HL_S3_SECRET_KEY" -H 'Content-Type: image/jpeg' \
          -H "x-amz-content-sha256: $jpeg_sha" \
          --data-binary "@$jpeg" "$S3/$HL_S3_BUCKET/bench/peer-$k.jpg" >> "$dir/t$k"
      done ) &
  done
  wait
  cat "$dir"/t* | "$PY" -c '
import sys
t = sorted(float(x) for x in sys.stdin if x.strip())
s = float(sys.argv[1])
print(f"{len(t) / s:.1f} {t[len(t) // 2] * 1000:.1f} {t[min(len(t) - 1, int(len(t) * 0.99))] * 1000:.1f}")' "$s"
  rm -rf "$dir"
}

hz=$(getconf CLK_TCK)
{
  echo "# media benchmark, profile $HL_PROFILE, $(date -u +%FT%TZ), $(nproc) cores"
  echo "# upload body: 3000 x 2000 JPEG of $size bytes; runs of ${DURATION}s"
  printf '%-36s %8s %9s %9s %7s\n' run "req/s" "p50 ms" "p99 ms" errors
} | tee "$report"
for c in $CLIENTS; do
  out=$out_dir/media-upload-$c.txt
  t0=$(cpu_ticks)
  wrk -t"$c" -c"$c" -d"${DURATION}s" --timeout 30s --latency -s "$lua" "$GW" > "$out"
  t1=$(cpu_ticks)
  read -r _ p50 _ p99 _ errs < <("$PY" "$HERE/wrk_summary.py" "$(cat "$out")")
  n=$(total_requests "$out")
  rps=$("$PY" -c 'import sys; print(int(sys.argv[1]) / float(sys.argv[2]))' "${n:-0}" "$DURATION")
  printf '%-36s %8.1f %9.1f %9.1f %7d\n' "upload via gateway, $c client(s)" "$rps" "$p50" "$p99" "$errs" | tee -a "$report"
  read -r prps pp50 pp99 < <(peer_put "$c" "$DURATION")
  printf '%-36s %8.1f %9.1f %9.1f %7s\n' "peer: raw PUT to the store, $c" "$prps" "$pp50" "$pp99" "-" | tee -a "$report"
  if ((n > 0)); then
    "$PY" -c 'import sys; t, hz, n = map(float, sys.argv[1:]); print(f"  command-server CPU per upload: {t / hz / n * 1000:.1f} ms ({int(n)} uploads)")' \
      "$((t1 - t0))" "$hz" "$n" | tee -a "$report"
  fi
done

# Reads of one rendition: a fresh upload's 512 px URL, through the cache and straight from S3.
url=$(curl -fsS -X PUT -H "Authorization: Bearer ${tokens[0]}" -H 'Content-Type: image/jpeg' \
  --data-binary "@$jpeg" "$GW/v1/users/me/avatar" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["avatar"]["url_512"])')
curl -fsS -o /dev/null "$GW$url"
[[ $(curl -fsS -o /dev/null -D - "$GW$url" | tr -d '\r' | sed -n 's/^X-Cache-Status: //Ip') == HIT ]] \
  || echo "[bench] warning: $url is not a cache HIT" >&2
for target in "gateway /media/ (cache HIT)|$GW$url" "peer: object store GET|$S3/$HL_S3_BUCKET/${url#/media/}"; do
  out=$out_dir/media-read.txt
  wrk -t2 -c32 -d"${DURATION}s" --latency "${target#*|}" > "$out"
  read -r rps p50 _ p99 _ errs < <("$PY" "$HERE/wrk_summary.py" "$(cat "$out")")
  printf '%-36s %8.1f %9.2f %9.2f %7d\n' "${target%%|*}, 32 conns" "$rps" "$p50" "$p99" "$errs" | tee -a "$report"
done
echo "[bench] report: $report" >&2
