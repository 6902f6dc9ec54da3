#!/usr/bin/env python3
"""Background data for the query benchmark, through the real command API: --users users, each
befriending the next one (a ring: one friend request, acceptance and direct room per pair), then
--messages messages spread round-robin over those rooms by --threads writers; waits until the
projector has caught up (its /metrics show no lag growth... simply: the last message readable).

Usage: bulk_seed.py COMMAND_URL QUERY_URL [--users 1000] [--messages 20000] [--threads 8]
Prints one JSON line: {"users", "rooms", "messages", "seconds"}."""
import argparse
import json
import sys
import threading
import time
import urllib.error
import uuid
from concurrent.futures import ThreadPoolExecutor

import query_seed
from query_seed import must


def call(method, url, body=None, headers=None):
    try:
        return query_seed.call(method, url, body, headers, attempts=5)
    except (urllib.error.URLError, ConnectionError):
        sys.exit(f"bulk_seed: {method} {url} failed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command")
    ap.add_argument("query")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    t0 = time.monotonic()
    tag = uuid.uuid4().hex[:6]
    C = a.command

    def user(i):
        email, pw = f"bulk-{tag}-{i}@example.com", f"pw-{uuid.uuid4().hex}"
        _, reg = must(call("POST", f"{C}/v1/users",
                           {"email": email, "password": pw, "display_name": f"Bulk {tag} {i}"}),
                      201)
        _, s = must(call("POST", f"{C}/v1/sessions", {"email": email, "password": pw}), 201)
        return reg["user_id"], {"Authorization": f"Bearer {s['token']}"}

    with ThreadPoolExecutor(a.threads) as ex:
        users = list(ex.map(user, range(a.users)))

    def pair(i):
        (_, auth), (other, oauth) = users[i], users[(i + 1) % len(users)]
        _, fr = must(call("POST", f"{C}/v1/friend-requests", {"to_user_id": other}, auth), 201)
        must(call("POST", f"{C}/v1/friend-requests/{fr['request_id']}/accept", None, oauth), 200)
        _, room = must(call("POST", f"{C}/v1/chat-rooms", {"member_ids": [other]}, auth),
                       200, 201)
        return room["room_id"], auth, oauth

    with ThreadPoolExecutor(a.threads) as ex:
        rooms = list(ex.map(pair, range(len(users))))

    lock = threading.Lock()
    last = {}

    def writer(w):
        for k in range(w, a.messages, a.threads):
            room, auth, oauth = rooms[k % len(rooms)]
            h, _ = must(call("POST", f"{C}/v1/chat-rooms/{room}/messages",
                             {"body": f"bulk {k} " + "y" * 60,
                              "client_message_id": str(uuid.uuid4())},
                             auth if k % 2 else oauth), 201)
            with lock:
                last[room] = (h.get("X-Consistency-Token"), auth)

    with ThreadPoolExecutor(a.threads) as ex:
        list(ex.map(writer, range(a.threads)))
    # every room's last message readable (a token read waits up to 10 s per call)
    for room, (token, auth) in list(last.items())[-50:]:
        for _ in range(60):
            st, _, _ = call("GET", f"{a.query}/v1/chat-rooms/{room}/messages?limit=1",
                            headers={**auth, "X-Consistency-Token": token,
                                     "X-Consistency-Wait-Ms": "10000"})
            if st != 503:
                break
    print(json.dumps({"users": len(users), "rooms": len(rooms), "messages": a.messages,
                      "seconds": round(time.monotonic() - t0)}))


if __name__ == "__main__":
    main()
