#!/usr/bin/env python3
"""make bench-booking: the booking saga's throughput and latency (issue 12).

For each payment-simulator latency (0 and 200 ms by default) and each client count (1, 8, 32):
clients book distinct open slots for --seconds; each measures POST /v1/bookings -> the job's
`succeeded` on the query server (GET /v1/jobs/{id} polled every 10 ms, backing off to 50 ms: the
saga's steps plus the CDC projection of the job row), and the run prints bookings/s, p50 and p99,
and the saga alone (the job row's updated_at - created_at in PostgreSQL, read after the cell). Beside it, the same
clients send messages (POST /v1/chat-rooms/{id}/messages -> 201) for the same time: the
send-message figure of the same stack. Needs a running stack (HL_PROFILE, default test) with the
payment simulator; prints a Markdown table. A harness, not a test: it prints figures.

Usage: booking_bench.py [--seconds=10] [--clients=1,8,32] [--latencies=0,200]
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

COMMAND = f"http://127.0.0.1:{os.environ['HL_COMMAND_PORT']}"
QUERY = f"http://127.0.0.1:{os.environ['HL_QUERY_PORT']}"
SIM = f"http://127.0.0.1:{os.environ['HL_PAYMENT_PORT']}"
PROJECTOR = f"http://127.0.0.1:{os.environ['HL_PROJECTOR_PORT']}"


def http(method, url, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def user(name):
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    st, b = http("POST", f"{COMMAND}/v1/users",
                 {"email": email, "password": "bench-password", "display_name": name})
    assert st == 201, b
    st, s = http("POST", f"{COMMAND}/v1/sessions", {"email": email, "password": "bench-password"})
    assert st == 201, s
    return b["user_id"], {"Authorization": f"Bearer {s['token']}"}, email


JOBS = []


def offsets_behind():
    """The projector's hl_projector_offsets_behind (all projections), or None if unreadable."""
    try:
        with urllib.request.urlopen(f"{PROJECTOR}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("hl_projector_offsets_behind "):
                    return int(float(line.split()[1]))
    except (OSError, ValueError):
        return None
    return None


def wait_projector_idle(timeout_s=180):
    """Wait until the projector has consumed everything (twice in a row, 0.5 s apart), so a
    cell does not measure the previous cell's backlog (its send-message run leaves thousands of
    messages, notifications and inbox updates for the projector, ahead of the next cell's job
    rows). Returns the seconds waited (None: the metric was not readable)."""
    t0 = time.monotonic()
    zero = 0
    while time.monotonic() - t0 < timeout_s:
        behind = offsets_behind()
        if behind is None:
            return None
        zero = zero + 1 if behind == 0 else 0
        if zero >= 2:
            break
        time.sleep(0.5)
    return time.monotonic() - t0


def saga_ms(job_ids):
    """(p50, p99) of the saga alone: each job row's updated_at - created_at, in PostgreSQL."""
    import subprocess
    if not job_ids:
        return float("nan"), float("nan")
    ids = ",".join(f"'{j}'" for j in job_ids)
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", os.environ["HL_PG_PORT"], "-U", os.environ["HL_PG_USER"],
         "-d", os.environ["HL_PG_DB"], "-qAt", "-c",
         f"SELECT extract(epoch FROM updated_at - created_at) * 1000 FROM jobs"
         f" WHERE status = 'succeeded' AND job_id IN ({ids})"],
        check=True, capture_output=True, text=True)
    values = [float(x) for x in out.stdout.split()]
    return percentile(values, 50), percentile(values, 99)


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def setup(n_counsellors, slots_each, operator_email):
    import subprocess
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    binary = os.path.join(os.environ.get("HL_BUILD_DIR", os.path.join(root, "build")),
                          "command-server", "command-server")
    op_id, op_h, op_email = user("Bench operator")
    pg = (f"postgresql://{os.environ['HL_PG_USER']}@127.0.0.1:{os.environ['HL_PG_PORT']}/"
          f"{os.environ['HL_PG_DB']}")
    subprocess.run([binary, "grant-role", op_email, "operator"], check=True,
                   capture_output=True, env=dict(os.environ, HL_PG_URL=pg))
    slots = queue.Queue()
    base = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0,
                                                                microsecond=0)
    for c in range(n_counsellors):
        cid, ch, _ = user(f"Bench counsellor {c}")
        st, b = http("POST", f"{COMMAND}/v1/counsellors",
                     {"headline": "bench", "specialties": ["stress"], "languages": ["en"],
                      "price_minor": 4000, "currency": "EUR", "session_minutes": 30}, ch)
        assert st == 201, b
        st, b = http("POST", f"{COMMAND}/v1/counsellors/{cid}/verify", None, op_h)
        assert st == 200, b
        for start in range(0, slots_each, 100):
            times = [base + datetime.timedelta(hours=2, minutes=30 * i)
                     for i in range(start, min(slots_each, start + 100))]
            st, b = http("POST", f"{COMMAND}/v1/counsellors/me/slots",
                         {"slots": [{"starts_at": t.strftime("%Y-%m-%dT%H:%M:%SZ")}
                                    for t in times]}, ch)
            assert st == 201, b
            for s in b["slot_ids"]:
                slots.put(s)
    return slots


def book_loop(headers, slots, deadline, lat, errors, jobs=None):
    while time.monotonic() < deadline:
        try:
            slot = slots.get_nowait()
        except queue.Empty:
            errors.append("out of slots")
            return
        t0 = time.monotonic()
        st, b = http("POST", f"{COMMAND}/v1/bookings",
                     {"slot_id": slot, "payment_method": "pm_card_visa"}, headers)
        if st != 202:
            errors.append(f"book {st}")
            continue
        JOBS.append(b["job_id"])
        pause = 0.01
        while True:
            st, j = http("GET", f"{QUERY}/v1/jobs/{b['job_id']}", None, headers)
            if st == 200 and j["status"] in ("succeeded", "failed"):
                break
            if time.monotonic() - t0 > 60:
                errors.append("job timeout")
                break
            time.sleep(pause)
            pause = min(pause * 1.5, 0.05)
        if st == 200 and j["status"] == "succeeded":
            lat.append(time.monotonic() - t0)
        else:
            errors.append(f"job {j.get('status') if isinstance(j, dict) else st}")


def message_loop(headers, room, deadline, lat, errors):
    n = 0
    while time.monotonic() < deadline:
        n += 1
        t0 = time.monotonic()
        st, _ = http("POST", f"{COMMAND}/v1/chat-rooms/{room}/messages",
                     {"body": "bench", "client_message_id": uuid.uuid4().hex}, headers)
        if st == 201:
            lat.append(time.monotonic() - t0)
        else:
            errors.append(f"message {st}")


def run(clients, seconds, target, args):
    lat, errors = [], []
    deadline = time.monotonic() + seconds
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        for c in clients:
            pool.submit(target, c[0], c[1], deadline, lat, errors)
    elapsed = time.monotonic() - t0
    return len(lat) / elapsed, percentile(lat, 50) * 1000, percentile(lat, 99) * 1000, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--latencies", default="0,200")
    args = ap.parse_args()
    counts = [int(x) for x in args.clients.split(",")]
    latencies = [int(x) for x in args.latencies.split(",")]
    print(f"setting up (counsellors, slots, {max(counts)} clients)...", file=sys.stderr)
    slots = setup(8, 1000, None)
    people = [user(f"Bench client {i}") for i in range(max(counts))]
    # rooms for the send-message figure: each client in a group of its own with one friend
    rooms = []
    friend_id, friend_h, _ = user("Bench friend")
    for uid, h, _ in people:
        st, r = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": friend_id}, h)
        assert st == 201, r
        st, _ = http("POST", f"{COMMAND}/v1/friend-requests/{r['request_id']}/accept", None,
                     friend_h)
        st, room = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [friend_id]}, h)
        assert st in (200, 201), room
        rooms.append(room["room_id"])
    rows = []
    for latency in latencies:
        http("POST", f"{SIM}/_admin/faults", {"latency_ms": latency})
        for n in counts:
            who = [(people[i][1], slots) for i in range(n)]
            waited = wait_projector_idle()
            print(f"latency {latency} ms, {n} clients: projector idle after "
                  f"{waited if waited is None else round(waited, 1)} s", file=sys.stderr)
            JOBS.clear()
            bps, p50, p99, errs = run(who, args.seconds, book_loop, args)
            s50, s99 = saga_ms(list(JOBS))
            mwho = [(people[i][1], rooms[i]) for i in range(n)]
            mps, m50, m99, merrs = run(mwho, args.seconds, message_loop, args)
            rows.append((latency, n, bps, p50, p99, s50, s99, len(errs), mps, m50, m99))
            print(f"latency {latency} ms, {n} clients: {bps:.1f} bookings/s p50 {p50:.0f} ms "
                  f"p99 {p99:.0f} ms, saga p50 {s50:.0f} p99 {s99:.0f} ms ({len(errs)} errors{': ' + errs[0] if errs else ''}); "
                  f"send-message {mps:.0f}/s p50 {m50:.1f} ms p99 {m99:.1f} ms",
                  file=sys.stderr)
    http("POST", f"{SIM}/_admin/faults", {})
    print("| simulator latency | clients | bookings/s | POST → job succeeded (query) p50 | p99 "
          "| saga alone p50 | p99 | errors | send-message/s | send-message p50 | p99 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} ms | {r[1]} | {r[2]:.1f} | {r[3]:.0f} ms | {r[4]:.0f} ms | {r[5]:.0f} ms "
              f"| {r[6]:.0f} ms | {r[7]} | {r[8]:.0f} | {r[9]:.1f} ms | {r[10]:.1f} ms |")


if __name__ == "__main__":
    main()
