"""Idempotent and ordered projection: replaying every topic from offset 0 twice leaves the read
models identical, document by document, to a single pass; and the replayed models equal
PostgreSQL. `projector replay` applies every input topic from its beginning up to fixed end
offsets into a separate database, with the daemon's plans and batched writes."""
import json
import uuid


from pj_helpers import User, befriend, cli, db, mismatches, send, snapshot, wait_equal


def activity():
    """Fresh input on every topic: users, sessions, friends, rooms, messages, reads, logouts."""
    a, b, c = User("Replay A"), User("Replay B"), User("Replay C")
    befriend(a, b)
    befriend(a, c)
    rej = c.call("POST", "/v1/friend-requests", {"to_user_id": b.id})["request_id"]
    b.call("POST", f"/v1/friend-requests/{rej}/reject")
    a.call("PATCH", "/v1/users/me", {"display_name": "Replay A2", "bio": "replayed"})
    a.call("PUT", "/v1/users/me/presence", {"status": "online"})
    room = a.call("POST", "/v1/chat-rooms", {"member_ids": [b.id]})["room_id"]
    group = a.call("POST", "/v1/chat-rooms", {"member_ids": [b.id, c.id], "title": "R"})["room_id"]
    last = None
    for i in range(5):
        last = send(a if i % 2 else b, room, f"replay {i}")
        send(c, group, f"group {i}")
    b.call("POST", f"/v1/chat-rooms/{room}/read", {"up_to_seq": last["seq"]})
    b.call("POST", "/v1/notifications/read", {"all": True})
    a.call("DELETE", f"/v1/friends/{c.id}")
    c.call("DELETE", "/v1/sessions/current")
    return [a.id, b.id, c.id], [room, group]


def replay(database, *ends):
    r = cli(f"--mongo-db={database}", "replay", *ends, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines and all(line.count(":") == 2 for line in lines), r.stdout
    return lines


def without(docs, fields):
    out = []
    for text in docs:
        d = json.loads(text)
        for f in fields:
            d.pop(f, None)
        out.append(json.dumps(d, sort_keys=True))
    return sorted(out)


def first_differences(one, two, n=3, ignore=None):
    out = []
    for model in one:
        fields = (ignore or {}).get(model, ())
        a, b = set(without(one[model], fields)), set(without(two[model], fields))
        if a != b:
            out.append((model, len(one[model]), len(two[model]), sorted(a - b)[:n], sorted(b - a)[:n]))
    return out


STATE = {}


def replayed_twice():
    """(users, rooms, one-pass snapshot, two-pass snapshot), computed once for both tests."""
    if STATE:
        return STATE["v"]
    users, rooms = activity()
    wait_equal(users, rooms)  # the live projector applied it: all of it is on the topics
    database = f"hl_replay_{uuid.uuid4().hex[:10]}"
    try:
        ends = replay(database)  # pass 1 into an empty database: the single-pass state
        once = snapshot(database)
        assert sum(len(v) for v in once.values()) > 0
        assert mismatches(users, rooms, database) == []
        again = replay(database, *ends)  # pass 2 over the same inputs, up to the same ends
        assert again == ends
        twice = snapshot(database)
    finally:
        db(database).client.drop_database(database)
    STATE["v"] = (users, rooms, once, twice)
    return STATE["v"]


def test_replaying_every_topic_twice_equals_one_pass():
    users, _, once, twice = replayed_twice()
    assert first_differences(once, twice) == []
    # including the read state of notifications: B read all of them, whatever the order in
    # which the topics interleaved (a notification applied after the read-all is written read)
    b = users[1]
    mine = [json.loads(t) for t in once["notifications"] if json.loads(t).get("user_id") == b]
    assert mine and all(d["read"] is True and d["read_at"] for d in mine), mine
