"""Helpers shared by the projector end-to-end tests: users driven through the command API,
read-model snapshots, the projector CLI and PostgreSQL truth."""
import json
import os
import subprocess
import uuid

import pymongo

from conftest import (COMMAND, KAFKA, MONGO_DB, MONGO_URI, PROJECTOR, REGISTRY, ROOT, eventually,
                      http, psql, register)

PROJECTOR_BIN = os.path.join(os.environ.get("HL_BUILD_DIR", os.path.join(ROOT, "build")),
                             "projector", "projector")
MODELS = ["user_profiles", "user_names", "sessions", "chat_rooms", "room_members", "messages", "friends",
          "friend_requests", "friend_requests_by_user", "user_counters", "inbox", "notifications",
          "notification_reads",
          "daily_active_users", "daily_stats", "watermarks"]


def db(name=None):
    return pymongo.MongoClient(MONGO_URI)[name or MONGO_DB]


def coll(name, database=None):
    """The physical collection of a logical read model (read_model_aliases, else the name) in
    the read-model database (or another one, e.g. a replay's)."""
    d = db(database)
    alias = d.read_model_aliases.find_one({"_id": name})
    return d[alias["collection"] if alias else name]


class User:
    def __init__(self, name):
        r, self.email, self.password = register(name)
        assert r.status == 201, r.body
        self.id = r.json()["user_id"]
        s = http("POST", f"{COMMAND}/v1/sessions", {"email": self.email, "password": self.password})
        assert s.status == 201, s.body
        self.session = s.json()
        self.token = self.session["token"]

    def call(self, method, path, body=None, ok=(200, 201, 204)):
        r = http(method, f"{COMMAND}{path}", body, {"Authorization": f"Bearer {self.token}"})
        assert r.status in ok, (method, path, r.status, r.body)
        return r.json() if r.body else {}


def befriend(a, b):
    req = a.call("POST", "/v1/friend-requests", {"to_user_id": b.id})["request_id"]
    b.call("POST", f"/v1/friend-requests/{req}/accept")
    return req


def send(user, room, body):
    return user.call("POST", f"/v1/chat-rooms/{room}/messages",
                     {"body": body, "client_message_id": uuid.uuid4().hex})


def cli(*args, timeout=300):
    env = dict(os.environ)
    cmd = [PROJECTOR_BIN, f"--kafka-brokers={KAFKA}", f"--mongo-uri={MONGO_URI}",
           f"--mongo-db={MONGO_DB}", f"--schema-registry-url={REGISTRY}",
           "--log-level=warn", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def daily_totals(day, database=None):
    """The daily_stats counters of day (YYYY-MM-DD) summed over its documents (one per day and
    aggregate, docs/read-models.md)."""
    out = {"users_registered": 0, "messages_sent": 0, "friendships_formed": 0}
    for d in coll("daily_stats", database).find({"_id": {"$gte": day, "$lt": day + ";"}}):
        for k in out:
            out[k] += d.get(k, 0)
    return out


def metrics():
    return http("GET", f"{PROJECTOR}/metrics").body.decode()


def offsets_behind():
    for line in metrics().splitlines():
        if line.startswith("hl_projector_offsets_behind "):
            return int(float(line.split()[1]))
    return -1


_coll = coll


def snapshot(database=None):
    """Every read-model document (by physical collection of each logical model), sorted."""
    out = {}
    for m in MODELS:
        out[m] = sorted((json.dumps(d, sort_keys=True, default=str)
                         for d in coll(m, database).find({})))
    return out


def pg_json(sql):
    rows = psql(f"SELECT coalesce(json_agg(t), '[]') FROM ({sql}) t")
    return json.loads("".join(rows)) if rows else []


def mismatches(user_ids, room_ids, database=None):
    """Differences between PostgreSQL and the read models for these users and rooms ([] = none),
    in the read-model database or another one (a replay's)."""
    bad = []

    def coll(name):  # noqa: F811 - the same lookup, in the database compared
        return _coll(name, database)

    users = ",".join(f"'{u}'" for u in user_ids) or "NULL"
    rooms = ",".join(f"'{r}'" for r in room_ids) or "NULL"
    for row in pg_json(f"SELECT user_id, display_name, version FROM users WHERE user_id IN ({users})"):
        d = coll("user_profiles").find_one({"_id": row["user_id"]})
        if not d or d.get("version") != row["version"] or d.get("display_name") != row["display_name"]:
            bad.append(("user_profiles", row, d))
        # user_names: exactly the key of the current name (the projector deletes a renamed
        # user's old key from the update's before image: users has REPLICA IDENTITY FULL)
        lower = "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in row["display_name"])
        keys = [(k["_id"], k.get("version")) for k in coll("user_names").find({"user_id": row["user_id"]})]
        if keys != [(f"{lower}\x1f{row['user_id']}", row["version"])]:
            bad.append(("user_names", row, keys))
    for row in pg_json(f"SELECT session_id, version, revoked_at IS NOT NULL AS revoked FROM sessions "
                       f"WHERE user_id IN ({users})"):
        d = coll("sessions").find_one({"_id": row["session_id"]})
        if not d or d.get("version") != row["version"] or (d.get("revoked_at") is not None) != row["revoked"]:
            bad.append(("sessions", row, d))
    for row in pg_json(f"SELECT room_id, version, last_seq FROM chat_rooms WHERE room_id IN ({rooms})"):
        d = coll("chat_rooms").find_one({"_id": row["room_id"]})
        if not d or d.get("version") != row["version"] or d.get("last_seq") != row["last_seq"]:
            bad.append(("chat_rooms", row, d))
        for m in pg_json(f"SELECT user_id FROM room_members WHERE room_id = '{row['room_id']}'"):
            i = coll("inbox").find_one({"_id": f"{m['user_id']}:{row['room_id']}"})
            if not i or i.get("last_seq") != row["last_seq"]:
                bad.append(("inbox", row, i))
    for row in pg_json(f"SELECT room_id, user_id, last_read_seq, room_version FROM room_members "
                       f"WHERE room_id IN ({rooms})"):
        d = coll("room_members").find_one({"_id": f"{row['room_id']}:{row['user_id']}"})
        if not d or d.get("room_version") != row["room_version"] or d.get("last_read_seq") != row["last_read_seq"]:
            bad.append(("room_members", row, d))
    msgs = pg_json(f"SELECT message_id, room_id, seq, body, sender_id FROM messages WHERE room_id IN ({rooms})")
    docs = {d["message_id"]: d for d in coll("messages").find({"room_id": {"$in": list(room_ids)}})}
    if set(docs) != {m["message_id"] for m in msgs}:
        bad.append(("messages", len(msgs), len(docs)))
    for m in msgs:
        d = docs.get(m["message_id"])
        if d and (d["seq"] != m["seq"] or d["body"] != m["body"]
                  or d["_id"] != f"{m['room_id']}:{m['seq']:019d}"):
            bad.append(("messages", m, d))
    # notifications: one new_message per recipient per message (one pass over the store: a
    # query per message would scan the collection each time on FerretDB)
    per_message = {}
    for d in coll("notifications").find({"room_id": {"$in": list(room_ids)}}, {"message_id": 1}):
        per_message[d.get("message_id")] = per_message.get(d.get("message_id"), 0) + 1
    members = {}
    for r in pg_json(f"SELECT room_id, user_id FROM room_members WHERE room_id IN ({rooms})"):
        members.setdefault(r["room_id"], []).append(r["user_id"])
    for m in msgs:
        n = per_message.get(m["message_id"], 0)
        if n != len([u for u in members.get(m["room_id"], []) if u != m["sender_id"]]):
            bad.append(("notifications", m["message_id"], n))
    for row in pg_json(f"SELECT request_id, status FROM friend_requests WHERE from_user_id IN ({users}) "
                       f"OR to_user_id IN ({users})"):
        d = coll("friend_requests").find_one({"_id": row["request_id"]})
        if not d or d.get("status") != row["status"]:
            bad.append(("friend_requests", row, d))
        for side, key in (("in", "to_user_id"), ("out", "from_user_id")):
            i = coll("friend_requests_by_user").find_one(
                {"_id": f"{(d or {}).get(key)}:{side}:{row['request_id']}"})
            if not i or i.get("status") != row["status"] or i.get("request_id") != row["request_id"]:
                bad.append(("friend_requests_by_user", side, row, i))
    for u in user_ids:
        live = pg_json(f"SELECT CASE WHEN user_a = '{u}' THEN user_b ELSE user_a END AS f FROM friendships "
                       f"WHERE ended_at IS NULL AND (user_a = '{u}' OR user_b = '{u}')")
        want = sorted(x["f"] for x in live)
        got = sorted(d["friend_id"] for d in coll("friends").find({"user_id": u, "ended": False}))
        if want != got:
            bad.append(("friends", u, want, got))
        # friend_count: the sum of the user's contributions (docs/read-models.md user_counters)
        got_n = sum(d.get("delta", 0) for d in coll("user_counters").find(
            {"_id": {"$gte": f"{u}:", "$lt": f"{u};"}}))
        if len(want) != got_n:
            bad.append(("user_counters", u, len(want), got_n))
    return bad


def wait_equal(users, rooms, timeout_s=180):
    """Poll until the read models of users and rooms equal PostgreSQL; fail with the diff."""
    import time
    deadline = time.monotonic() + timeout_s
    diff = None
    while time.monotonic() < deadline:
        diff = mismatches(users, rooms)
        if not diff:
            return
        time.sleep(0.5)
    raise AssertionError(f"read models differ from PostgreSQL after {timeout_s}s: {diff[:5]}")
