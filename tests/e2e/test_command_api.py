"""Command API end to end (SPEC §1, §2): authentication and authorization, every invariant,
optimistic concurrency (If-Match → 412, concurrent writers), Idempotency-Key and
client_message_id replays, bad input that writes nothing. Real PostgreSQL; no mocks."""
import concurrent.futures
import hashlib
import json
import uuid

from conftest import COMMAND, befriend, eventually, http, login, new_user, psql, register


def count(table):
    return int(psql(f"SELECT count(*) FROM {table}")[0])


def problem(r, status, reason):
    assert r.status == status, (r.status, r.body)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["type"] == f"urn:hearlers:problem:{reason}", r.body


def test_login_logout_and_authentication():
    uid, h, email, password = new_user("Login")
    # Wrong password and unknown e-mail: 401 with one problem type.
    problem(login(email, "wrong-password"), 401, "invalid-credentials")
    problem(login(f"nobody-{uuid.uuid4().hex}@example.com", password), 401, "invalid-credentials")
    s = login(email.upper(), password)
    assert s.status == 201
    body = s.json()
    assert body["user_id"] == uid and body["token"] and body["expires_at"].endswith("Z")
    assert psql(f"SELECT version, revoked_at IS NULL FROM sessions WHERE session_id = "
                f"'{body['session_id']}'") == ["1|t"]
    # No token, garbage token, tampered token: 401.
    problem(http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "away"}), 401,
            "missing-token")
    problem(http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "away"},
                 {"Authorization": "Bearer nope"}), 401, "invalid-token")
    token = body["token"]
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    problem(http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "away"},
                 {"Authorization": f"Bearer {tampered}"}), 401, "invalid-token")
    # Log out: 204, the session row is revoked (version 2), the token stops working.
    h2 = {"Authorization": f"Bearer {token}"}
    out = http("DELETE", f"{COMMAND}/v1/sessions/current", None, h2)
    assert out.status == 204 and out.headers["X-Consistency-Token"]
    assert psql(f"SELECT version, revoked_at IS NOT NULL FROM sessions WHERE session_id = "
                f"'{body['session_id']}'") == ["2|t"]
    problem(http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "away"}, h2), 401,
            "revoked-token")
    problem(http("DELETE", f"{COMMAND}/v1/sessions/current", None, h2), 401, "revoked-token")
    # The other session of the same user still works.
    assert http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "away"}, h).status == 200


def test_profile_presence_and_if_match():
    uid, h, _, _ = new_user("Profile")
    r = http("PATCH", f"{COMMAND}/v1/users/me", {"bio": "hello", "display_name": "Pro File"},
             {**h, "If-Match": '"1"'})
    assert r.status == 200, r.body
    assert r.json()["version"] == 2 and r.headers["X-Consistency-Token"] == \
        r.json()["consistency_token"]
    assert psql(f"SELECT display_name, bio, version FROM users WHERE user_id = '{uid}'") == \
        ["Pro File|hello|2"]
    # Stale If-Match: 412, nothing written.
    before = count("events")
    problem(http("PATCH", f"{COMMAND}/v1/users/me", {"bio": "stale"}, {**h, "If-Match": "1"}),
            412, "version-mismatch")
    assert count("events") == before
    problem(http("PATCH", f"{COMMAND}/v1/users/me", {"bio": "x"}, {**h, "If-Match": "abc"}),
            400, "invalid-if-match")
    p = http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "online"}, h)
    assert p.status == 200 and p.json()["version"] == 3
    rows = psql(f"SELECT event_type, aggregate_version FROM events WHERE aggregate_id = '{uid}'"
                " ORDER BY aggregate_version")
    assert rows == ["UserRegistered|1", "UserProfileUpdated|2", "UserPresenceChanged|3"]
    problem(http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "busy"}, h), 422,
            "validation-failed")
    problem(http("PATCH", f"{COMMAND}/v1/users/me", {}, h), 422, "validation-failed")


def test_concurrent_if_match_exactly_one_wins():
    uid, h, _, _ = new_user("Race")
    def patch(i):
        return http("PATCH", f"{COMMAND}/v1/users/me", {"bio": f"writer {i}"},
                    {**h, "If-Match": '"1"'})
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(patch, range(8)))
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [412] * 7, statuses
    assert psql(f"SELECT version FROM users WHERE user_id = '{uid}'") == ["2"]
    assert psql(f"SELECT count(*) FROM events WHERE aggregate_id = '{uid}'") == ["2"]


def test_concurrent_writers_never_lose_updates_or_duplicate_versions():
    a, ha, _, _ = new_user("Writer A")
    b, hb, _, _ = new_user("Writer B")
    befriend(ha, b, hb)
    room = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b]}, ha).json()["room_id"]
    def send(i):
        h = ha if i % 2 else hb
        return http("POST", f"{COMMAND}/v1/chat-rooms/{room}/messages",
                    {"body": f"m{i}", "client_message_id": f"c{i}"}, h)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(send, range(40)))
    assert all(r.status == 201 for r in results), [r.body for r in results if r.status != 201]
    seqs = sorted(r.json()["seq"] for r in results)
    assert seqs == list(range(1, 41))  # gapless, no duplicates
    versions = psql(f"SELECT aggregate_version FROM events WHERE aggregate_id = '{room}'"
                    " ORDER BY aggregate_version")
    assert [int(v) for v in versions] == list(range(1, 42))
    assert psql(f"SELECT last_seq, version FROM chat_rooms WHERE room_id = '{room}'") == ["40|41"]


def test_friend_request_invariants():
    a, ha, _, _ = new_user("Fa")
    b, hb, _, _ = new_user("Fb")
    c, hc, _, _ = new_user("Fc")
    before = count("friend_requests")
    problem(http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": a}, ha), 409,
            "self-request")
    problem(http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": str(uuid.uuid4())}, ha),
            404, "user-not-found")
    r = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b}, ha)
    assert r.status == 201 and r.json()["version"] == 1
    rid = r.json()["request_id"]
    # Pending either way: 409.
    problem(http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b}, ha), 409,
            "request-pending")
    problem(http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": a}, hb), 409,
            "request-pending")
    # Only the recipient answers: the sender and strangers get 403.
    problem(http("POST", f"{COMMAND}/v1/friend-requests/{rid}/accept", None, ha), 403,
            "not-recipient")
    problem(http("POST", f"{COMMAND}/v1/friend-requests/{rid}/accept", None, hc), 403,
            "not-recipient")
    problem(http("POST", f"{COMMAND}/v1/friend-requests/{uuid.uuid4()}/accept", None, hb), 404,
            "request-not-found")
    problem(http("POST", f"{COMMAND}/v1/friend-requests/{rid}/accept", None,
                 {**hb, "If-Match": '"7"'}), 412, "version-mismatch")
    acc = http("POST", f"{COMMAND}/v1/friend-requests/{rid}/accept", None, {**hb, "If-Match": '"1"'})
    assert acc.status == 200 and acc.json()["version"] == 2
    fid = acc.json()["friendship_id"]
    assert count("friend_requests") == before + 1
    problem(http("POST", f"{COMMAND}/v1/friend-requests/{rid}/reject", None, hb), 409,
            "request-not-pending")
    problem(http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": a}, hb), 409,
            "already-friends")
    # Delete the friendship: 204, FriendDeleted at version 2 of the Friendship aggregate.
    d = http("DELETE", f"{COMMAND}/v1/friends/{a}", None, hb)
    assert d.status == 204 and d.headers["X-Consistency-Token"]
    assert psql(f"SELECT event_type, aggregate_version FROM events WHERE aggregate_id = '{fid}'") \
        == ["FriendDeleted|2"]
    problem(http("DELETE", f"{COMMAND}/v1/friends/{a}", None, hb), 404, "not-friends")
    # Reject path.
    r2 = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": c}, ha).json()["request_id"]
    rej = http("POST", f"{COMMAND}/v1/friend-requests/{r2}/reject", None, hc)
    assert rej.status == 200 and rej.json()["status"] == "rejected"


def test_blocked_user_cannot_send_friend_request_or_message():
    a, ha, _, _ = new_user("Blocker")
    b, hb, _, _ = new_user("Blocked")
    c, hc, _, _ = new_user("Third")
    befriend(ha, b, hb)
    befriend(ha, c, hc)
    befriend(hb, c, hc)
    room = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b]}, ha).json()["room_id"]
    group = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b, c], "title": "G"},
                 ha).json()["room_id"]
    assert http("DELETE", f"{COMMAND}/v1/friends/{b}", None, ha).status == 204
    blk = http("POST", f"{COMMAND}/v1/blocks", {"user_id": b}, ha)
    assert blk.status == 201 and blk.json()["version"] == 1
    problem(http("POST", f"{COMMAND}/v1/blocks", {"user_id": b}, ha), 409, "already-blocked")
    problem(http("POST", f"{COMMAND}/v1/blocks", {"user_id": a}, ha), 409, "self-block")
    before_msgs, before_events = count("messages"), count("events")
    # Either direction: friend request refused.
    problem(http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": a}, hb), 403, "blocked")
    problem(http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b}, ha), 403, "blocked")
    # Messages: refused in the direct room (both ways) and from the blocked user in a group.
    for h in (hb, ha):
        problem(http("POST", f"{COMMAND}/v1/chat-rooms/{room}/messages",
                     {"body": "hi", "client_message_id": str(uuid.uuid4())}, h), 403, "blocked")
    problem(http("POST", f"{COMMAND}/v1/chat-rooms/{group}/messages",
                 {"body": "hi", "client_message_id": "g1"}, hb), 403, "blocked")
    assert (count("messages"), count("events")) == (before_msgs, before_events)
    # The blocker and a third member still write to the group.
    for h in (ha, hc):
        assert http("POST", f"{COMMAND}/v1/chat-rooms/{group}/messages",
                    {"body": "hi", "client_message_id": str(uuid.uuid4())}, h).status == 201
    # A direct room with a blocked user cannot be created either.
    problem(http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [a]}, hb), 403, "blocked")
    # Unblock: 204; then the blocked user may send a request again.
    assert http("DELETE", f"{COMMAND}/v1/blocks/{b}", None, ha).status == 204
    problem(http("DELETE", f"{COMMAND}/v1/blocks/{b}", None, ha), 404, "not-blocked")
    assert http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": a}, hb).status == 201


def test_rooms_messages_and_read_markers():
    a, ha, _, _ = new_user("Ra")
    b, hb, _, _ = new_user("Rb")
    c, hc, _, _ = new_user("Rc")
    problem(http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b]}, ha), 403, "not-friends")
    befriend(ha, b, hb)
    r = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b, a]}, ha)
    assert r.status == 201 and r.json()["kind"] == "direct"
    room = r.json()["room_id"]
    # At most one direct room per pair: the other side gets the same room with 200.
    again = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [a]}, hb)
    assert again.status == 200 and again.json()["room_id"] == room
    problem(http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [a]}, ha), 422,
            "validation-failed")
    # Non-members may neither send nor read.
    problem(http("POST", f"{COMMAND}/v1/chat-rooms/{room}/messages",
                 {"body": "x", "client_message_id": "1"}, hc), 403, "not-member")
    problem(http("POST", f"{COMMAND}/v1/chat-rooms/{room}/read", {"up_to_seq": 0}, hc), 403,
            "not-member")
    problem(http("POST", f"{COMMAND}/v1/chat-rooms/{uuid.uuid4()}/messages",
                 {"body": "x", "client_message_id": "1"}, ha), 404, "room-not-found")
    m1 = http("POST", f"{COMMAND}/v1/chat-rooms/{room}/messages",
              {"body": "hello", "client_message_id": "same"}, ha)
    assert m1.status == 201 and m1.json()["seq"] == 1 and m1.json()["version"] == 2
    # client_message_id replay: same message, nothing new written.
    before = count("messages")
    m1b = http("POST", f"{COMMAND}/v1/chat-rooms/{room}/messages",
               {"body": "hello", "client_message_id": "same"}, ha)
    assert m1b.status == 201 and m1b.json()["message_id"] == m1.json()["message_id"]
    assert count("messages") == before
    # The same client_message_id from the other member is another message.
    m2 = http("POST", f"{COMMAND}/v1/chat-rooms/{room}/messages",
              {"body": "hi", "client_message_id": "same"}, hb)
    assert m2.json()["seq"] == 2
    rd = http("POST", f"{COMMAND}/v1/chat-rooms/{room}/read", {"up_to_seq": 2}, hb)
    assert rd.status == 200 and rd.json()["version"] == 4 and rd.json()["last_read_seq"] == 2
    # Markers never move back; beyond the last message is a conflict.
    old = http("POST", f"{COMMAND}/v1/chat-rooms/{room}/read", {"up_to_seq": 1}, hb)
    assert old.status == 200 and old.json()["last_read_seq"] == 2 and old.json()["version"] == 4
    problem(http("POST", f"{COMMAND}/v1/chat-rooms/{room}/read", {"up_to_seq": 9}, hb), 409,
            "seq-beyond-last")
    assert psql(f"SELECT last_read_seq, room_version FROM room_members WHERE room_id = '{room}'"
                f" AND user_id = '{b}'") == ["2|4"]
    # Group room: every member must be a friend of the creator.
    problem(http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b, c]}, ha), 403,
            "not-friends")
    befriend(ha, c, hc)
    g = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b, c], "title": "Team"}, ha)
    assert g.status == 201 and g.json()["kind"] == "group"
    assert psql(f"SELECT count(*) FROM room_members WHERE room_id = '{g.json()['room_id']}'") == ["3"]
    # Notifications read (NotificationInbox aggregate).
    n1 = http("POST", f"{COMMAND}/v1/notifications/read", {"all": True}, ha)
    assert n1.status == 200 and n1.json()["version"] == 1
    n2 = http("POST", f"{COMMAND}/v1/notifications/read", {"notification_ids": ["x:y"]},
              {**ha, "If-Match": '"1"'})
    assert n2.status == 200 and n2.json()["version"] == 2
    problem(http("POST", f"{COMMAND}/v1/notifications/read", {"all": True, "notification_ids": ["a"]},
                 ha), 422, "validation-failed")


def test_idempotency_key_replay_and_reuse():
    a, ha, _, _ = new_user("Idem")
    b, hb, _, _ = new_user("Idem B")
    key = str(uuid.uuid4())
    hk = {**ha, "Idempotency-Key": key}
    first = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b}, hk)
    assert first.status == 201
    before = count("events")
    replay = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b}, hk)
    assert replay.status == 201 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert count("events") == before
    # Same key, other body: 422 and nothing written.
    problem(http("POST", f"{COMMAND}/v1/blocks", {"user_id": b}, hk), 422,
            "idempotency-key-reused")
    assert count("events") == before
    # Concurrent requests with one key: one command, every answer identical.
    c, hc, _, _ = new_user("Idem C")
    hk2 = {**ha, "Idempotency-Key": str(uuid.uuid4())}
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        rs = list(pool.map(lambda _: http("POST", f"{COMMAND}/v1/blocks", {"user_id": c}, hk2),
                           range(6)))
    assert all(r.status == 201 for r in rs), [(r.status, r.body) for r in rs]
    assert len({r.json()["block_id"] for r in rs}) == 1
    assert psql(f"SELECT count(*) FROM blocks WHERE blocker_id = '{a}' AND blocked_id = '{c}'") \
        == ["1"]
    # Register is idempotent too (anonymous scope).
    email = f"idem-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": "long enough pw", "display_name": "Idem Reg"}
    k = {"Idempotency-Key": str(uuid.uuid4())}
    raw = json.dumps(body).encode()
    r1 = http("POST", f"{COMMAND}/v1/users", raw=raw, headers=k)
    r2 = http("POST", f"{COMMAND}/v1/users", raw=raw, headers=k)
    assert r1.status == r2.status == 201 and r1.json()["user_id"] == r2.json()["user_id"]
    # The stored request hash is keyed with the server secret: the body holds the password, and
    # a plain BLAKE2b of it would be an offline-guessable password hash.
    plain = hashlib.blake2b(b"POST\0/v1/users\0" + raw, digest_size=32).hexdigest()
    stored = psql("SELECT encode(request_hash, 'hex') FROM idempotency_keys WHERE scope ="
                  f" 'anonymous' AND idem_key = '{k['Idempotency-Key']}'")
    assert len(stored) == 1 and len(stored[0]) == 64 and stored[0] != plain


def test_idempotency_keys_expire_after_ttl():
    """The publishing relay deletes Idempotency-Key records older than HL_IDEMPOTENCY_TTL_S
    (24 h by default) every 10 s; younger ones stay and still replay."""
    a, ha, _, _ = new_user("Idem TTL")
    b, _, _, _ = new_user("Idem TTL B")
    old_key, young_key = str(uuid.uuid4()), str(uuid.uuid4())
    first = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b},
                 {**ha, "Idempotency-Key": young_key})
    assert first.status == 201
    # A record as a request 25 hours ago would have left it.
    psql("INSERT INTO idempotency_keys (scope, idem_key, request_hash, response_status,"
         f" response_body, created_at) VALUES ('{a}', '{old_key}', '\\x00', 201, '{{}}',"
         " now() - interval '25 hours')")
    eventually(lambda: psql(f"SELECT count(*) FROM idempotency_keys WHERE idem_key = "
                            f"'{old_key}'") == ["0"], timeout_s=30, what="the old key expired")
    assert psql(f"SELECT count(*) FROM idempotency_keys WHERE idem_key = '{young_key}'") == ["1"]
    replay = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b},
                  {**ha, "Idempotency-Key": young_key})
    assert replay.status == 201 and replay.headers["Idempotent-Replayed"] == "true"


def test_bad_input_writes_nothing():
    a, ha, _, _ = new_user("Bad")
    tables = ["events", "users", "friend_requests", "blocks", "chat_rooms", "messages",
              "idempotency_keys"]
    before = [count(t) for t in tables]
    url = f"{COMMAND}/v1/friend-requests"
    cases = [
        (dict(raw=b'{"to_user_id": '), 400, "malformed-json"),
        (dict(raw=b'["x"]'), 400, "malformed-json"),
        (dict(raw=b'{"to_user_id": "\xff\xfe"}'), 400, "invalid-utf8"),
        (dict(body={"to_user_id": 5}), 422, "validation-failed"),
        (dict(body={"to_user_id": a, "extra": 1}), 422, "unknown-field"),
        (dict(body={"to_user_id": "not-a-uuid-not-a-uuid-not-a-uuid-xxxx"}), 422,
         "validation-failed"),
        (dict(raw=b'{"to_user_id": "' + b"a" * (70 * 1024) + b'"}'), 413, "body-too-large"),
    ]
    for kw, status, reason in cases:
        problem(http("POST", url, headers={**ha, "Idempotency-Key": str(uuid.uuid4())}, **kw),
                status, reason)
    r = http("POST", url, raw=b'{"to_user_id": "x"}', headers={**ha, "Content-Type": "text/plain"})
    problem(r, 415, "unsupported-media-type")
    room_body = {"member_ids": [a], "title": "x" * 101}
    problem(http("POST", f"{COMMAND}/v1/chat-rooms", room_body, ha), 422, "validation-failed")
    problem(http("POST", f"{COMMAND}/v1/chat-rooms/{uuid.uuid4()}/messages",
                 {"body": "x" * 4001, "client_message_id": "1"}, ha), 422, "validation-failed")
    problem(http("POST", f"{COMMAND}/v1/chat-rooms/{uuid.uuid4()}/read", {"up_to_seq": "1"}, ha),
            422, "validation-failed")
    assert [count(t) for t in tables] == before
