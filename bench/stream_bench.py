"""make bench-streams: a load client of the stream listener (issue 11). Holds N concurrent stream
connections (half SSE, half WebSocket; source addresses 127.0.0.2.. so that ports do not run
out) subscribed to rooms of Zipf-distributed sizes, while a writer sends messages through the
command API at a fixed rate. Prints connections held, deliveries/s, command answered ->
delivered p50/p99, the listener's own feed -> socket lag (hl_stream_feed_lag_seconds), its CPU
and RSS (per connection), and slow-client disconnects, beside Centrifugo's and Mercure's
published anchors. A harness that prints figures, not a test. The load client shares the
machine with everything it measures."""
import argparse
import asyncio
import base64
import json
import os
import random
import re
import resource
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

TOKEN_RE = re.compile(rb"bench-(\d+)-")


def http(method, url, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers=h)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def setup(cmd, query, nfriends):
    def user(name):
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        http("POST", f"{cmd}/v1/users", {"email": email, "password": "bench-password",
                                         "display_name": name})
        s = http("POST", f"{cmd}/v1/sessions", {"email": email, "password": "bench-password"})
        return s["user_id"], s["token"]
    w, wt = user("Writer")
    friends = [user(f"F{i}") for i in range(nfriends)]
    for f, ft in friends:
        r = http("POST", f"{cmd}/v1/friend-requests", {"to_user_id": f}, wt)
        http("POST", f"{cmd}/v1/friend-requests/{r['request_id']}/accept", None, ft)
    time.sleep(2)
    rooms = []
    for i, (f, _) in enumerate(friends):
        rooms.append(http("POST", f"{cmd}/v1/chat-rooms", {"member_ids": [f]}, wt)["room_id"])
        others = [friends[(i + k) % nfriends][0] for k in range(1, 3)]
        rooms.append(http("POST", f"{cmd}/v1/chat-rooms", {"member_ids": [f] + others,
                                                          "title": f"g{i}"}, wt)["room_id"])
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if all(urllib.request.urlopen(urllib.request.Request(
                    f"{query}/v1/chat-rooms/{r}/messages?limit=1",
                    headers={"Authorization": "Bearer " + wt}), timeout=10).status == 200
                   for r in rooms):
                break
        except Exception:
            time.sleep(0.5)
    return wt, rooms


class Stats:
    def __init__(self):
        self.held = 0
        self.failed = 0
        self.closed = 0
        self.deliveries = 0
        self.latencies = []
        self.answered = {}
        self.measuring = False


async def reader(kind, port, room, token, src, stats):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0))
    except OSError:
        stats.failed += 1
        return
    if kind == "sse":
        w.write(f"GET /v1/chat-rooms/{room}/messages/stream HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {token}\r\n\r\n".encode())
    else:
        key = base64.b64encode(os.urandom(16)).decode()
        w.write(f"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {token}\r\n\r\n".encode())
    try:
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 60)
    except Exception:
        stats.failed += 1
        w.close()
        return
    if b" 200 " not in head.split(b"\r\n")[0] and b" 101 " not in head.split(b"\r\n")[0]:
        stats.failed += 1
        w.close()
        return
    if kind == "ws":
        msg = json.dumps({"op": "subscribe", "channel": f"room:{room}"}).encode()
        mask = os.urandom(4)
        w.write(bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
    stats.held += 1
    try:
        while True:
            chunk = await r.read(65536)
            if not chunk:
                break
            if not stats.measuring:
                continue
            now = time.monotonic()
            for m in TOKEN_RE.finditer(chunk):
                stats.deliveries += 1
                t = stats.answered.get(int(m.group(1)))
                if t:
                    stats.latencies.append(now - t)
    except Exception:
        pass
    stats.held -= 1
    stats.closed += 1


async def writer(cmd_host, cmd_port, token, rooms, rate, seconds, stats):
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=64)  # the writer keeps its rate while answers lag
    n = 0
    start = time.monotonic()

    def post(i, room):
        http("POST", f"http://{cmd_host}:{cmd_port}/v1/chat-rooms/{room}/messages",
             {"body": f"bench-{i}-x", "client_message_id": uuid.uuid4().hex}, token)
        stats.answered[i] = time.monotonic()

    pending = set()
    while time.monotonic() - start < seconds:
        due = start + n / rate
        await asyncio.sleep(max(0, due - time.monotonic()))
        pending.add(loop.run_in_executor(pool, post, n, rooms[n % len(rooms)]))
        n += 1
        pending = {p for p in pending if not p.done()}
    await asyncio.gather(*pending, return_exceptions=True)
    return n


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = int(parts[11]) + int(parts[12])
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return ticks / os.sysconf("SC_CLK_TCK"), rss


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {l.split()[0]: float(l.split()[-1]) for l in text.splitlines()
            if l.startswith(name) and not l.startswith("#")}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--friends", type=int, default=10)
    ap.add_argument("--sources", type=int, default=8)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.connections + 4096), hard))
    sport = int(os.environ["HL_STREAM_PORT"])
    cport = int(os.environ["HL_COMMAND_PORT"])
    cmd = f"http://127.0.0.1:{cport}"
    query = f"http://127.0.0.1:{os.environ['HL_QUERY_PORT']}"
    pid = int(open(os.path.join(os.environ["HL_RUN_DIR"], "stream-listener.pid")).read())
    token, rooms = setup(cmd, query, a.friends)
    weights = [1 / (k + 1) for k in range(len(rooms))]
    stats = Stats()
    cpu0, rss0 = proc_stats(pid)
    tasks = []
    for i in range(a.connections):
        room = random.choices(rooms, weights)[0]
        src = f"127.0.0.{2 + i % a.sources}"
        tasks.append(asyncio.create_task(reader("sse" if i % 2 else "ws", sport, room, token, src,
                                                stats)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    for _ in range(600):
        if stats.held + stats.failed >= a.connections:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)
    cpu1, rss_idle = proc_stats(pid)
    slow0 = sum(metric(sport, "hl_stream_slow_disconnects_total").values())
    lag0 = metric(sport, "hl_stream_feed_lag_seconds")
    stats.measuring = True
    t0 = time.monotonic()
    sent = await writer("127.0.0.1", cport, token, rooms, a.rate, a.seconds, stats)
    await asyncio.sleep(3)
    stats.measuring = False
    elapsed = time.monotonic() - t0
    cpu2, rss_busy = proc_stats(pid)
    slow = sum(metric(sport, "hl_stream_slow_disconnects_total").values()) - slow0
    lag1 = metric(sport, "hl_stream_feed_lag_seconds")
    held = stats.held
    lat = sorted(stats.latencies)
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    def lag_pct(p):  # from the histogram delta (bucket upper bounds, seconds)
        buckets = sorted((float(k.split('le="')[1].split('"')[0]), v - lag0.get(k, 0))
                         for k, v in lag1.items() if "_bucket" in k and 'le="+Inf"' not in k)
        total = lag1.get("hl_stream_feed_lag_seconds_count", 0) - lag0.get(
            "hl_stream_feed_lag_seconds_count", 0)
        for le, c in buckets:
            if total and c / total >= p:
                return le * 1000
        return float("nan")

    print(f"connections held        {held} of {a.connections} "
          f"(failed {stats.failed}, {a.sources} source addresses, half SSE half WebSocket)")
    print(f"rooms                   {len(rooms)} (Zipf sizes; largest {max(weights) / sum(weights):.0%})")
    print(f"writer                  {sent} messages in {a.seconds:.0f} s ({sent / a.seconds:.0f}/s)")
    print(f"deliveries/s            {stats.deliveries / elapsed:,.0f}")
    print(f"command -> client       p50 {pct(0.5):.0f} ms  p99 {pct(0.99):.0f} ms")
    print(f"feed -> socket (lws)    p50 <= {lag_pct(0.5):.1f} ms  p99 <= {lag_pct(0.99):.1f} ms"
          " (hl_stream_feed_lag_seconds buckets)")
    print(f"listener CPU            {(cpu2 - cpu1) / elapsed:.0%} of one core while writing "
          f"(connect phase {cpu1 - cpu0:.1f} s)")
    print(f"listener RSS            idle {rss_idle / 1024:.0f} MiB ({(rss_idle - rss0) * 1024 / max(1, held):,.0f} B"
          f"/connection over the {rss0 / 1024:.0f} MiB start), busy {rss_busy / 1024:.0f} MiB")
    print(f"slow-client disconnects {slow:.0f}")
    print("anchors                 Centrifugo: 1M connections on 20 pods (~50k per 2-CPU pod), "
          "p99 200 ms, 30-50 KB/connection; Mercure: 40k connections on one small instance")
    os._exit(0)


asyncio.run(main())
