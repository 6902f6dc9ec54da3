"""Every read model of docs/read-models.md, built by the projector from real commands (CDC and
domain events), compared with PostgreSQL; watermarks for every input; poison input to the
dead-letter topic with its reason while the rest of the stream goes on; the dlq CLI."""
import json
import struct
import uuid

from confluent_kafka import Producer

from conftest import KAFKA, eventually, http, psql
from pj_helpers import User, befriend, cli, coll, daily_totals, metrics, send, wait_equal


def test_read_models_follow_commands():
    a, b, c = User("Ada Pj"), User("Bob Pj"), User("Cy Pj")
    req = befriend(a, b)
    befriend(a, c)
    rej = c.call("POST", "/v1/friend-requests", {"to_user_id": b.id})["request_id"]
    b.call("POST", f"/v1/friend-requests/{rej}/reject")
    room = a.call("POST", "/v1/chat-rooms", {"member_ids": [b.id]})["room_id"]
    group = a.call("POST", "/v1/chat-rooms", {"member_ids": [b.id, c.id], "title": "Trio"})["room_id"]
    send(a, room, "hello bob")
    m2 = send(a, room, "second é message")
    send(c, group, "hi all")
    b.call("POST", f"/v1/chat-rooms/{room}/read", {"up_to_seq": m2["seq"]})
    # a rename: user_names holds the new name's key only (compared by wait_equal)
    c.call("PATCH", "/v1/users/me", {"display_name": "Cy Pj Renamed"})
    users, rooms = [a.id, b.id, c.id], [room, group]
    wait_equal(users, rooms)
    assert coll("user_names").count_documents({"user_id": c.id}) == 1

    # inbox: newest activity, unread counts
    ib = coll("inbox").find_one({"_id": f"{b.id}:{room}"})
    assert ib["last_message"]["body"] == "second é message"
    assert ib["last_seq"] - ib["last_read_seq"] == 0
    ia = coll("inbox").find_one({"_id": f"{a.id}:{group}"})
    eventually(lambda: coll("inbox").find_one({"_id": f"{a.id}:{group}"}).get("title") == "Trio",
               180, "group inbox title")
    ia = coll("inbox").find_one({"_id": f"{a.id}:{group}"})
    assert ia["last_seq"] - ia["last_read_seq"] == 1 and sorted(ia["member_ids"]) == sorted(users)
    # notifications: B got the request and two messages, A the acceptance
    kinds = sorted(n["kind"] for n in coll("notifications").find({"user_id": b.id}))
    assert kinds == ["friend_request", "friend_request", "new_message", "new_message",
                     "new_message"], kinds
    assert coll("notifications").count_documents({"user_id": a.id, "kind": "friend_accepted"}) == 2
    b.call("POST", "/v1/notifications/read", {"all": True})
    eventually(lambda: coll("notifications").count_documents({"user_id": b.id, "read": False}) == 0,
               180, "notifications read")
    assert coll("friend_requests").find_one({"_id": req})["status"] == "accepted"
    # friend deletion ends both directions and recounts
    a.call("DELETE", f"/v1/friends/{b.id}")
    wait_equal(users, rooms)
    assert coll("friends").find_one({"_id": f"{b.id}:{a.id}"})["ended"] is True
    # daily stats and activity
    day = psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')")[0]
    st = daily_totals(day)
    assert st["messages_sent"] >= 3 and st["friendships_formed"] >= 1 and st["users_registered"] >= 3
    assert coll("daily_active_users").count_documents({"day": day, "user_id": {"$in": users}}) == 3
    # watermarks for every input
    wm = {d["_id"]: d["v"] for d in coll("watermarks").find({})}
    for key in [f"cdc.users:{a.id}", f"cdc.sessions:{a.session['session_id']}",
                f"cdc.chat_rooms:{room}", f"cdc.room_members:{room}", f"cdc.messages:{room}",
                f"ev.ChatRoom:{room}", f"ev.FriendRequest:{req}", f"ev.User:{a.id}",
                f"ev.NotificationInbox:{b.id}"]:
        assert key in wm, key
    # a user's User and NotificationInbox share the id but not the watermark: B's inbox is at
    # version 1 (one NotificationsRead), B's User at its own version
    assert wm[f"ev.NotificationInbox:{b.id}"] == 1
    assert wm[f"ev.User:{b.id}"] == int(psql(f"SELECT version FROM users WHERE user_id='{b.id}'")[0])
    assert not any(f"ev:{x}" in wm for x in (room, req, a.id, b.id))
    assert wm[f"cdc.chat_rooms:{room}"] == int(psql(f"SELECT version FROM chat_rooms WHERE room_id='{room}'")[0])
    # session revocation reaches the sessions read model
    a.call("DELETE", "/v1/sessions/current")
    eventually(lambda: (coll("sessions").find_one({"_id": a.session["session_id"]}) or {}).get("revoked_at"),
               180, "revoked session")


def dead_letters():
    r = cli("dlq", "list")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def test_poison_is_dead_lettered_and_the_stream_goes_on():
    a, b = User("Poison A"), User("Poison B")
    befriend(a, b)
    room = a.call("POST", "/v1/chat-rooms", {"member_ids": [b.id]})["room_id"]
    send(a, room, "before poison")
    p = Producer({"bootstrap.servers": KAFKA})
    tag = uuid.uuid4().hex
    ours = set()  # (topic, partition, offset) of the poison we produce: other tests share the DLQ

    def delivered(err, m):
        assert err is None, err
        ours.add((m.topic(), str(m.partition()), str(m.offset())))

    # undecodable Avro, an unknown schema id, a Debezium envelope with missing fields; all on
    # the same aggregate (the room) as the messages around them
    p.produce("message.events", key=room, value=b"\x00\x00\x00\x00\x01\xff\xff\xff" + tag.encode(),
              on_delivery=delivered)
    p.produce("message.events", key=room, value=b"\x00" + struct.pack(">I", 999999) + b"\x02\x00",
              on_delivery=delivered)
    p.produce("cdc.public.messages", key=json.dumps({"room_id": room, "seq": 99}),
              value=json.dumps({"op": "c", "after": {"room_id": room}, "tag": tag}),
              on_delivery=delivered)
    p.flush(10)
    assert len(ours) == 3
    after = send(a, room, "after poison")
    # later events of the same aggregate are applied: no aggregate is blocked by a dead letter
    eventually(lambda: coll("messages").find_one({"message_id": after["message_id"]}), 180, "later message")
    eventually(lambda: (coll("inbox").find_one({"_id": f"{b.id}:{room}"}) or {}).get("last_seq") == after["seq"],
               180, "later inbox update")

    def mine(letters):
        return [d for d in letters if (d["topic"], d["partition"], d["offset"]) in ours]

    new = eventually(lambda: (lambda d: d if len(d) >= 3 else None)(mine(dead_letters())), 180,
                     "three dead letters")
    reasons = sorted(d["reason"] for d in new)
    assert reasons == ["bad-envelope", "undecodable-avro", "unknown-schema-id"], new
    for d in new:
        assert d["topic"] in ("message.events", "cdc.public.messages") and d["offset"] and d["error"]
    assert 'hl_projection_dead_letters_total{projection="message_events"}' in metrics()
    # replaying a dead letter re-feeds it; still poison, so it is dead-lettered again
    undecodable = next(d for d in new if d["reason"] == "undecodable-avro")
    seen = {(d["dlq_partition"], d["dlq_offset"]) for d in dead_letters()}
    r = cli("dlq", "replay", f"{undecodable['dlq_partition']}:{undecodable['dlq_offset']}")
    assert r.returncode == 0 and "replayed" in r.stdout, r.stderr
    key = (undecodable["topic"], undecodable["partition"], undecodable["offset"])
    # the replayed copy is a new message of the original topic, dead-lettered again
    again = eventually(lambda: [d for d in dead_letters() if (d["dlq_partition"], d["dlq_offset"]) not in seen
                                and d["topic"] == key[0] and d["reason"] == "undecodable-avro"] or None,
                       180, "replayed dead letter")
    assert again[0]["reason"] == "undecodable-avro"
    assert http("GET", f"{__import__('conftest').PROJECTOR}/readyz").status == 200
