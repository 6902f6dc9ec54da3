#!/usr/bin/env python3
"""Stand-in population for bench/report.sh while <build>/bench/hl-loadgen is not built: users,
friendships, direct rooms and messages through the real command API, from --clients threads.

scale 1 = 1,000 users + 20,000 messages (hl-loadgen's demo scale). Each user befriends the next
one (a ring), each pair gets a direct room, messages go round-robin over the rooms with the
sender alternating. Does not check the read models (hl-loadgen does); prints one JSON line
{"users", "rooms", "messages", "seconds", "errors"}.

Usage: report_populate.py COMMAND_URL [--scale F] [--clients 16]"""
import argparse
import json
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from query_seed import call  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--clients", type=int, default=16)
    a = ap.parse_args()
    nusers, nmsgs = int(1000 * a.scale), int(20000 * a.scale)
    tag = uuid.uuid4().hex[:8]
    errors = [0]
    lock = threading.Lock()
    t0 = time.monotonic()

    def err(what):
        with lock:
            errors[0] += 1
            if errors[0] <= 5:
                print(f"[populate] {what}", file=sys.stderr)

    def user(i):
        email, pw = f"pop-{tag}-{i}@example.com", f"pw-{tag}-{i}"
        st, _, reg = call("POST", f"{a.command}/v1/users",
                          {"email": email, "password": pw, "display_name": f"Pop {tag} {i}"})
        if st != 201:
            err(f"register {st}")
            return None
        st, _, s = call("POST", f"{a.command}/v1/sessions", {"email": email, "password": pw})
        if st != 201:
            err(f"login {st}")
            return None
        return reg["user_id"], {"Authorization": f"Bearer {s['token']}"}

    with ThreadPoolExecutor(a.clients) as ex:
        users = [u for u in ex.map(user, range(nusers)) if u]
    print(f"[populate] {len(users)} users in {time.monotonic() - t0:.0f} s", file=sys.stderr)

    def pair(i):
        (ua, ah), (ub, bh) = users[i], users[(i + 1) % len(users)]
        st, _, fr = call("POST", f"{a.command}/v1/friend-requests", {"to_user_id": ub}, ah)
        if st != 201:
            err(f"friend request {st}")
            return None
        st, _, _ = call("POST", f"{a.command}/v1/friend-requests/{fr['request_id']}/accept",
                        None, bh)
        if st != 200:
            err(f"accept {st}")
            return None
        st, _, room = call("POST", f"{a.command}/v1/chat-rooms", {"member_ids": [ub]}, ah)
        if st not in (200, 201):
            err(f"room {st}")
            return None
        return room["room_id"], ah, bh

    t1 = time.monotonic()
    with ThreadPoolExecutor(a.clients) as ex:
        rooms = [r for r in ex.map(pair, range(len(users) - 1 if len(users) > 2 else 0)) if r]
    print(f"[populate] {len(rooms)} rooms in {time.monotonic() - t1:.0f} s", file=sys.stderr)

    # one worker per room slice, so messages of a room are sent in order by one client
    def sender(k):
        sent = 0
        mine = rooms[k::a.clients]
        if not mine:
            return 0
        for j in range(k, nmsgs, a.clients):
            room, ah, bh = mine[(j // a.clients) % len(mine)]
            st, _, _ = call("POST", f"{a.command}/v1/chat-rooms/{room}/messages",
                            {"body": f"populate message {j} " + "x" * 40,
                             "client_message_id": str(uuid.uuid4())}, ah if j % 2 else bh)
            if st == 201:
                sent += 1
            else:
                err(f"message {st}")
        return sent

    t2 = time.monotonic()
    with ThreadPoolExecutor(a.clients) as ex:
        sent = sum(ex.map(sender, range(a.clients)))
    print(f"[populate] {sent} messages in {time.monotonic() - t2:.0f} s", file=sys.stderr)
    print(json.dumps({"users": len(users), "rooms": len(rooms), "messages": sent,
                      "seconds": round(time.monotonic() - t0, 1), "errors": errors[0]}))


if __name__ == "__main__":
    main()
