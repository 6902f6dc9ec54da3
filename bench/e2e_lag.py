#!/usr/bin/env python3
"""End-to-end lag under load (benchmark, not a test): the time from a command's answer to the
moment the query side shows its effect.

W writer threads, each with its own pair of users and direct room, send messages back to back
for the duration. After each answer (201 with seq) the writer polls the query side without a
consistency token (GET /v1/chat-rooms/{room}/messages?limit=1, every --poll-ms) until the
message is visible, and records answer → visible. A second series does the same for the inbox
(GET /v1/chat-rooms, fed by the MessageSent domain event) every 4th message. The writers and
their polling are the load; --readers adds threads reading profiles as fast as they can.

Usage: e2e_lag.py COMMAND_URL QUERY_URL [--writers 16] [--duration 30] [--poll-ms 2]
                                          [--readers 0]"""
import argparse
import os
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from query_seed import call, must  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(len(xs) * p / 100.0)) - 1))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command")
    ap.add_argument("query")
    ap.add_argument("--writers", type=int, default=16)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--poll-ms", type=float, default=2)
    ap.add_argument("--readers", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30, help="give up on one write after, s")
    a = ap.parse_args()
    tag = uuid.uuid4().hex[:8]

    def user(name):
        email, pw = f"lag-{uuid.uuid4().hex[:12]}@example.com", f"pw-{uuid.uuid4().hex}"
        _, reg = must(call("POST", f"{a.command}/v1/users",
                           {"email": email, "password": pw, "display_name": name}), 201)
        _, s = must(call("POST", f"{a.command}/v1/sessions", {"email": email, "password": pw}),
                    201)
        return reg["user_id"], {"Authorization": f"Bearer {s['token']}"}

    def pair(i):
        ua, ah = user(f"Lag {tag} {i}a")
        ub, bh = user(f"Lag {tag} {i}b")
        _, fr = must(call("POST", f"{a.command}/v1/friend-requests", {"to_user_id": ub}, ah), 201)
        h, _ = must(call("POST", f"{a.command}/v1/friend-requests/{fr['request_id']}/accept",
                         None, bh), 200)
        _, room = must(call("POST", f"{a.command}/v1/chat-rooms", {"member_ids": [ub]}, ah),
                       200, 201)
        # the room visible before measuring (its first read would otherwise be 404/403)
        must(call("GET", f"{a.query}/v1/chat-rooms/{room['room_id']}/messages?limit=1",
                  headers={**bh, "X-Consistency-Token": h.get("X-Consistency-Token", ""),
                           "X-Consistency-Wait-Ms": "10000"}), 200, 400, 403, 404)
        return ua, ah, bh, room["room_id"]

    print(f"[lag] setting up {a.writers} writer pairs", file=sys.stderr)
    pairs = [pair(i) for i in range(a.writers)]
    lags, inbox_lags, write_ms, lost = [], [], [], []
    lock = threading.Lock()
    stop = threading.Event()
    reads = [0]

    def writer(ua, ah, bh, room):
        n = 0
        while not stop.is_set():
            n += 1
            t0 = time.monotonic()
            st, _, body = call("POST", f"{a.command}/v1/chat-rooms/{room}/messages",
                               {"body": f"lag {n}", "client_message_id": str(uuid.uuid4())}, ah)
            answered = time.monotonic()
            if st != 201:
                with lock:
                    lost.append(f"write {st}")
                continue
            seq = body["seq"]
            check_inbox = n % 4 == 0
            seen_msg = seen_inbox = None
            deadline = answered + a.timeout
            while (seen_msg is None or (check_inbox and seen_inbox is None)) and \
                    time.monotonic() < deadline:
                if seen_msg is None:
                    st, _, page = call("GET", f"{a.query}/v1/chat-rooms/{room}/messages?limit=1",
                                       headers=bh)
                    if st == 200 and page["items"] and page["items"][0]["seq"] >= seq:
                        seen_msg = time.monotonic()
                if check_inbox and seen_inbox is None:
                    st, _, inbox = call("GET", f"{a.query}/v1/chat-rooms?limit=5", headers=bh)
                    if st == 200 and any(i["room_id"] == room and i["last_seq"] >= seq
                                         for i in inbox["items"]):
                        seen_inbox = time.monotonic()
                time.sleep(a.poll_ms / 1000.0)
            with lock:
                write_ms.append((answered - t0) * 1000)
                if seen_msg is None:
                    lost.append(f"message {room}:{seq} not visible after {a.timeout}s")
                else:
                    lags.append((seen_msg - answered) * 1000)
                if check_inbox and seen_inbox is not None:
                    inbox_lags.append((seen_inbox - answered) * 1000)

    def reader():
        ua = pairs[0][0]
        while not stop.is_set():
            call("GET", f"{a.query}/v1/users/{ua}")
            with lock:
                reads[0] += 1

    threads = [threading.Thread(target=writer, args=p) for p in pairs]
    threads += [threading.Thread(target=reader) for _ in range(a.readers)]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(a.duration)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t_start
    print(f"writers {a.writers}, readers {a.readers}, {elapsed:.0f} s, poll every {a.poll_ms} ms")
    print(f"writes answered: {len(write_ms)} ({len(write_ms) / elapsed:.1f}/s), command p50 "
          f"{statistics.median(write_ms):.1f} ms, p99 {pct(write_ms, 99):.1f} ms")
    for name, xs in (("message → GET messages (CDC)", lags),
                     ("message → GET chat-rooms (events)", inbox_lags)):
        if xs:
            print(f"{name:<36} n={len(xs):<5} p50 {statistics.median(xs):7.1f} ms   "
                  f"p90 {pct(xs, 90):7.1f} ms   p99 {pct(xs, 99):7.1f} ms   max {max(xs):7.1f} ms")
    if a.readers:
        print(f"background profile reads: {reads[0] / elapsed:.0f}/s")
    if lost:
        print(f"NOT VISIBLE / FAILED: {len(lost)} (first: {lost[0]})")
        sys.exit(1)


if __name__ == "__main__":
    main()
