#!/usr/bin/env python3
"""Seed data for the query benchmarks through the real command API and wait until the read
models show it (read-your-writes tokens). Prints one JSON object:
{"user_id", "token", "room_id", "rooms", "messages"}.

Usage: query_seed.py COMMAND_URL QUERY_URL [--rooms N] [--messages M]
One user with N rooms (each with a fresh friend, a direct room and one message) and M messages
in the first room, so that GET /v1/chat-rooms and the messages page return full pages."""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid


def call(method, url, body=None, headers=None, attempts=1):
    """One JSON request: (status, headers, body). A connection failure is retried up to
    `attempts` times in all (0.5 s, 1 s, ... apart), then raised."""
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
                return r.status, dict(r.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode(errors="replace")
        except (urllib.error.URLError, ConnectionError):
            if attempt + 1 == attempts:
                raise
            time.sleep(0.5 * (attempt + 1))


def must(status_body, *ok):
    status, headers, body = status_body
    if status not in ok:
        sys.exit(f"seed: unexpected {status}: {body}")
    return headers, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command")
    ap.add_argument("query")
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--messages", type=int, default=60)
    a = ap.parse_args()
    tag = uuid.uuid4().hex[:8]

    def user(name):
        email, pw = f"bench-{uuid.uuid4().hex[:12]}@example.com", f"pw-{uuid.uuid4().hex}"
        _, reg = must(call("POST", f"{a.command}/v1/users",
                           {"email": email, "password": pw, "display_name": name}), 201)
        _, s = must(call("POST", f"{a.command}/v1/sessions", {"email": email, "password": pw}),
                    201)
        return reg["user_id"], {"Authorization": f"Bearer {s['token']}"}

    me, auth = user(f"Bench {tag}")
    rooms, last = [], None
    for i in range(a.rooms):
        other, oauth = user(f"Bench {tag} friend {i}")
        _, fr = must(call("POST", f"{a.command}/v1/friend-requests", {"to_user_id": other},
                          auth), 201)
        must(call("POST", f"{a.command}/v1/friend-requests/{fr['request_id']}/accept", None,
                  oauth), 200)
        _, room = must(call("POST", f"{a.command}/v1/chat-rooms", {"member_ids": [other]},
                            auth), 200, 201)
        rooms.append(room["room_id"])
        h, _ = must(call("POST", f"{a.command}/v1/chat-rooms/{room['room_id']}/messages",
                         {"body": f"hello {i}", "client_message_id": str(uuid.uuid4())},
                         oauth), 201)
        last = h.get("X-Consistency-Token")
    for i in range(a.messages):
        h, _ = must(call("POST", f"{a.command}/v1/chat-rooms/{rooms[0]}/messages",
                         {"body": f"bench message {i} " + "x" * 80,
                          "client_message_id": str(uuid.uuid4())}, auth), 201)
        last = h.get("X-Consistency-Token")
    # the last write visible (each room's writes are ordered; wait for every room's last one)
    if last:  # 503 = not yet (the wait is capped at 10 s): ask again, for up to 5 minutes
        for _ in range(30):
            st, _, body = call("GET", f"{a.query}/v1/chat-rooms/{rooms[0]}/messages?limit=1",
                               headers={**auth, "X-Consistency-Token": last,
                                        "X-Consistency-Wait-Ms": "10000"})
            if st != 503:
                break
        if st != 200:
            sys.exit(f"seed: the last write never became visible: {st} {body}")
    for _ in range(600):
        _, _, inbox = call("GET", f"{a.query}/v1/chat-rooms?limit=100", headers=auth)
        if isinstance(inbox, dict) and len(inbox["items"]) >= a.rooms:
            break
        time.sleep(0.1)
    print(json.dumps({"user_id": me, "token": auth["Authorization"][7:], "room_id": rooms[0],
                      "rooms": len(rooms), "messages": a.messages}))


if __name__ == "__main__":
    main()
