"""Query API (SPEC §3) against the real query-server and the real MongoDB-wire store.

The read models are seeded here with pymongo (documents shaped as docs/read-models.md says the
projector writes them, under fresh random ids so nothing else is disturbed); bearer and
consistency tokens are signed with the stack's shared secret exactly as the command server
signs them (common/src/token.c). End-to-end tests through the command side live in
test_query_ryw.py."""
import base64
import datetime
import hashlib
import hmac
import json
import os
import threading
import time
import uuid

import pytest

import conftest
from conftest import QUERY, QUERY_DIRECT, ReadModels, eventually, http

SECRET = os.environ.get("HL_TOKEN_SECRET", "hearlers-dev-secret-change-me")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
UTC = datetime.timezone.utc


def _key(purpose):
    return hashlib.blake2b(purpose.encode() + b"\0" + SECRET.encode(), digest_size=32).digest()


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(purpose, payload):
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(_key(purpose), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def bearer(user_id, session_id=None, exp_ms=None):
    exp_ms = exp_ms if exp_ms is not None else int(time.time() * 1000) + 3600_000
    tok = sign("session", {"sid": session_id or str(uuid.uuid4()), "uid": user_id, "exp": exp_ms})
    return {"Authorization": f"Bearer {tok}"}


def consistency(watermarks):
    return sign("consistency", {"w": [[i, v] for i, v in watermarks],
                                "t": int(time.time() * 1000)})


def db():
    return ReadModels()


def uid():
    return str(uuid.uuid4())


def at(seconds):
    """A fixed, distinct instant (ms precision, as the store keeps it)."""
    return datetime.datetime(2026, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=seconds)


def ts(seconds):
    """at(seconds) in ms since the epoch (the time part of notification _ids is in µs)."""
    return int(at(seconds).timestamp()) * 1000


def get(path, headers=None):
    return http("GET", f"{QUERY}{path}", headers=headers)


def all_pages(path, headers, limit):
    """Every page of path for headers (conftest.all_pages); each answer must be a 200."""
    def fetch(url):
        r = get(url, headers)
        assert r.status == 200, r.body
        return r.json()
    return conftest.all_pages(fetch, path, limit)


@pytest.fixture(scope="module")
def world():
    """Users, a friendship graph, requests, rooms, messages and notifications for one test run."""
    d = db()
    tag = uuid.uuid4().hex[:8]
    names = {"a": f"Qz{tag} Ada", "b": f"Qz{tag} Bob", "c": f"qz{tag} Cy", "e": f"Qz{tag} Eve",
             "x": f"Qz{tag}.*x"}
    u = {k: uid() for k in names}
    d.user_profiles.insert_many([
        {"_id": u[k], "display_name": n, "display_name_lower": n.lower(), "bio": f"bio {k}",
         "avatar_url": "", "presence": "online", "created_at": at(i), "updated_at": at(i),
         "version": 1, "source": {"lsn": 1, "ts_ms": 1}} for i, (k, n) in enumerate(names.items())])
    # the search index the projector writes next to every profile (docs/read-models.md user_names)
    d.user_names.insert_many([
        {"_id": f"{n.lower()}\x1f{u[k]}", "user_id": u[k], "display_name_lower": n.lower(),
         "version": 1, "source": {"lsn": 1, "ts_ms": 1}} for k, n in names.items()])
    # two accepted friendships of a (one contribution each, docs/read-models.md user_counters)
    d.user_counters.insert_many([{"_id": f"{u['a']}:{uid()}", "user_id": u["a"], "friend_id": uid(),
                                  "delta": 1, "at": 1} for _ in range(2)])
    sid = {"a": uid(), "c": uid(), "revoked": uid()}
    d.sessions.insert_many([
        {"_id": sid["a"], "user_id": u["a"], "created_at": at(0), "expires_at": at(10**8),
         "revoked_at": None, "version": 1},
        {"_id": sid["c"], "user_id": u["c"], "created_at": at(0), "expires_at": at(10**8),
         "revoked_at": None, "version": 1},
        {"_id": sid["revoked"], "user_id": u["a"], "created_at": at(0), "expires_at": at(10**8),
         "revoked_at": at(5), "version": 2}])
    # friends of a: b (since 10), c (since 20), e ended
    fr = []
    for other, since, ended in (("b", 10, False), ("c", 20, False), ("e", 30, True)):
        fid = uid()
        for x, y in ((u["a"], u[other]), (u[other], u["a"])):
            fr.append({"_id": f"{x}:{y}", "user_id": x, "friend_id": y, "friendship_id": fid,
                       "since": at(since), "ended": ended})
    d.friends.insert_many(fr)
    req = {"in1": uid(), "in2": uid(), "out": uid(), "done": uid()}
    d.friend_requests.insert_many([
        {"_id": req["in1"], "from_user_id": u["e"], "to_user_id": u["a"], "status": "pending",
         "created_at": at(40), "updated_at": at(40), "v": 1},
        {"_id": req["in2"], "from_user_id": u["x"], "to_user_id": u["a"], "status": "pending",
         "created_at": at(41), "updated_at": at(41), "v": 1},
        {"_id": req["out"], "from_user_id": u["a"], "to_user_id": u["x"], "status": "pending",
         "created_at": at(42), "updated_at": at(42), "v": 1},
        {"_id": req["done"], "from_user_id": u["b"], "to_user_id": u["a"], "status": "accepted",
         "created_at": at(5), "updated_at": at(6), "v": 2}])
    # the per-party lists the query server reads (docs/read-models.md friend_requests_by_user)
    d.friend_requests_by_user.insert_many([
        {**{k: v for k, v in r.items() if k != "_id"}, "_id": f"{r[key]}:{side}:{r['_id']}",
         "user_id": r[key], "direction": direction, "request_id": r["_id"]}
        for r in d.friend_requests.find({"_id": {"$in": list(req.values())}})
        for key, side, direction in (("to_user_id", "in", "incoming"),
                                     ("from_user_id", "out", "outgoing"))])
    rooms = {"ab": uid(), "group": uid(), "ac": uid()}
    lo, hi = sorted([u["a"], u["b"]])
    d.chat_rooms.insert_many([
        {"_id": rooms["ab"], "kind": "direct", "title": None, "created_by": u["a"],
         "direct_key": f"{lo}:{hi}", "last_seq": 25, "created_at": at(50), "updated_at": at(50),
         "version": 26},
        {"_id": rooms["group"], "kind": "group", "title": "Team", "created_by": u["b"],
         "direct_key": None, "last_seq": 1, "created_at": at(51), "updated_at": at(51),
         "version": 2},
        {"_id": rooms["ac"], "kind": "group", "title": "Other", "created_by": u["c"],
         "direct_key": None, "last_seq": 0, "created_at": at(52), "updated_at": at(52),
         "version": 1}])
    d.room_members.insert_many(
        [{"_id": f"{rooms['ab']}:{m}", "room_id": rooms["ab"], "user_id": m, "joined_at": at(50),
          "last_read_seq": 0, "room_version": 1} for m in (u["a"], u["b"])] +
        [{"_id": f"{rooms['group']}:{m}", "room_id": rooms["group"], "user_id": m,
          "joined_at": at(51), "last_read_seq": 0, "room_version": 1}
         for m in (u["a"], u["b"], u["e"])] +
        [{"_id": f"{rooms['ac']}:{u['c']}", "room_id": rooms["ac"], "user_id": u["c"],
          "joined_at": at(52), "last_read_seq": 0, "room_version": 1}])
    msgs = [{"_id": f"{rooms['ab']}:{s:019d}", "message_id": uid(), "room_id": rooms["ab"],
             "seq": s, "sender_id": u["a" if s % 2 else "b"],
             "body": f"message {s}", "client_message_id": f"c{s}", "created_at": at(100 + s),
             "room_version": s + 1} for s in range(1, 26)]
    d.messages.insert_many(msgs)

    def inbox(user, room, kind, title, members, last_seq, read_seq, activity, last):
        return {"_id": f"{user}:{room}", "user_id": user, "room_id": room, "kind": kind,
                "title": title, "member_ids": members, "last_message": last,
                "last_activity_at": at(activity), "last_seq": last_seq,
                "last_read_seq": read_seq}
    last_ab = {"message_id": msgs[-1]["message_id"], "seq": 25, "sender_id": u["a"],
               "body": "message 25", "sent_at": at(125)}
    d.inbox.insert_many([
        inbox(u["a"], rooms["ab"], "direct", None, [u["a"], u["b"]], 25, 20, 125, last_ab),
        inbox(u["a"], rooms["group"], "group", "Team", [u["a"], u["b"], u["e"]], 1, 1, 200,
              {"message_id": uid(), "seq": 1, "sender_id": u["b"], "body": "hi team",
               "sent_at": at(200)}),
        inbox(u["b"], rooms["ab"], "direct", None, [u["a"], u["b"]], 25, 25, 125, last_ab),
        inbox(u["a"], f"{rooms['group']}-old", "group", "Empty", [u["a"]], 0, 0, 60, None)])
    notes = []
    for i, (kind, read) in enumerate((("friend_request", False), ("friend_accepted", True),
                                      ("new_message", False), ("new_message", True))):
        event = uid()
        notes.append({"_id": f"{u['a']}:{(ts(300 + i)) * 1000:019d}:{event}", "user_id": u["a"],
                      "kind": kind, "event_id": event,
                      "actor_id": u["b"], "created_at": at(300 + i), "read": read,
                      "read_at": at(400) if read else None, "room_id": rooms["ab"],
                      "seq": i + 1, "preview": f"p{i}"})
    d.notifications.insert_many(notes)
    return {"u": u, "names": names, "sid": sid, "req": req, "rooms": rooms, "msgs": msgs,
            "notes": notes, "tag": tag,
            "auth": bearer(u["a"], sid["a"]), "auth_c": bearer(u["c"], sid["c"])}


CALLER_ROUTES = ["/v1/users?q=a", "/v1/friends", "/v1/friend-requests", "/v1/chat-rooms",
                 f"/v1/chat-rooms/check/{uuid.uuid4()}",
                 f"/v1/chat-rooms/{uuid.uuid4()}/messages", "/v1/notifications"]


def test_caller_routes_need_a_valid_unrevoked_token(world):
    u, sid = world["u"], world["sid"]
    bad_sig = bearer(u["a"], sid["a"])
    bad_sig["Authorization"] = bad_sig["Authorization"][:-2] + "AA"
    cases = [({}, "missing-token"), ({"Authorization": "Basic eDp5"}, "missing-token"),
             (bad_sig, "invalid-token"), ({"Authorization": "Bearer nonsense-not-a-token-7c1d"}, "invalid-token"),
             (bearer(u["a"], sid["a"], exp_ms=int(time.time() * 1000) - 1), "expired-token"),
             (bearer(u["a"], sid["revoked"]), "revoked-token"),
             # a session whose row belongs to another user is refused too
             (bearer(u["b"], sid["a"]), "revoked-token")]
    for path in CALLER_ROUTES:
        for headers, reason in cases:
            r = get(path, headers)
            assert r.status == 401, (path, reason, r.body)
            assert r.headers["Content-Type"] == "application/problem+json"
            assert r.json()["type"] == f"urn:hearlers:problem:{reason}", (path, r.body)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # A session the projector has not mirrored yet is accepted (its revocation cannot be there).
    assert get("/v1/friends", bearer(u["a"])).status == 200
    # Public routes: no token needed, but a token that is sent must be valid.
    assert get(f"/v1/users/{u['a']}").status == 200
    assert get("/v1/stats/daily").status == 200
    assert get(f"/v1/users/{u['a']}", bearer(u["a"], sid["revoked"])).status == 401
    assert get("/v1/stats/daily", bad_sig).status == 401


def test_only_get_and_head(world):
    for path in CALLER_ROUTES + [f"/v1/users/{world['u']['a']}", "/v1/stats/daily"]:
        for method in WRITES:
            r = http(method, f"{QUERY_DIRECT}{path}", {}, headers=world["auth"])  # the server itself
            assert r.status == 405, (method, path, r.status)
            assert r.headers["Content-Type"] == "application/problem+json"
    assert http("HEAD", f"{QUERY}/v1/friends", headers=world["auth"]).status == 200


def test_profile(world):
    u = world["u"]
    p = get(f"/v1/users/{u['a']}").json()
    assert p == {"id": u["a"], "display_name": world["names"]["a"], "bio": "bio a",
                 # seeded with presence online but never set (no presence_set): the effective
                 # presence follows stream connections, and this user has none (SPEC §8)
                 "avatar_url": "", "avatar": None, "presence": "offline", "friend_count": 2,
                 "created_at": "2026-01-01T00:00:00.000000Z", "version": 1}
    assert get(f"/v1/users/{u['a'].upper()}").json()["id"] == u["a"]
    assert get(f"/v1/users/{u['b']}").json()["friend_count"] == 0
    assert get(f"/v1/users/{uuid.uuid4()}").status == 404
    assert get("/v1/users/not-a-uuid").status == 404


def test_user_search_prefix_case_and_paging(world):
    tag, auth, names = world["tag"], world["auth"], world["names"]
    items, pages = all_pages(f"/v1/users?q=QZ{tag.upper()}", auth, 2)
    assert pages == 3
    got = [i["display_name"] for i in items]
    assert sorted(got, key=str.lower) == got
    assert set(got) == set(names.values())
    assert {"id", "display_name", "bio", "avatar_url", "presence", "created_at",
            "version"} <= set(items[0])
    # regular-expression characters are matched literally
    r = get(f"/v1/users?q=qz{tag}.*", auth).json()
    assert [i["display_name"] for i in r["items"]] == [names["x"]]
    assert get(f"/v1/users?q=qz{tag}%20b", auth).json()["items"][0]["id"] == world["u"]["b"]
    assert get(f"/v1/users?q=zz{tag}", auth).json() == {"items": [], "next_cursor": None}
    for bad in ("", "?q=", f"?q={'a' * 65}", "?q=a&limit=0", "?q=a&limit=101",
                "?q=a&limit=x", "?q=a&cursor=garbage", "?q=a%09b"):
        r = get(f"/v1/users{bad}", auth)
        assert r.status == 400, (bad, r.body)
        assert r.headers["Content-Type"] == "application/problem+json"


def test_friends(world):
    u, names, auth = world["u"], world["names"], world["auth"]
    r = get("/v1/friends", auth).json()
    assert r["next_cursor"] is None
    assert r["items"] == [
        {"id": u["c"], "display_name": names["c"], "since": "2026-01-01T00:00:20.000000Z"},
        {"id": u["b"], "display_name": names["b"], "since": "2026-01-01T00:00:10.000000Z"}]
    items, pages = all_pages("/v1/friends", auth, 1)
    assert [i["id"] for i in items] == [u["c"], u["b"]] and pages == 2
    # c sees a, but not a's other friends
    r = get("/v1/friends", world["auth_c"]).json()
    assert [i["id"] for i in r["items"]] == [u["a"]]
    # a cursor of another list is refused
    first = get("/v1/friends?limit=1", auth).json()
    assert get(f"/v1/notifications?cursor={first['next_cursor']}", auth).status == 400


def test_friend_requests(world):
    u, names, req, auth = world["u"], world["names"], world["req"], world["auth"]
    inc = get("/v1/friend-requests?direction=incoming", auth).json()
    assert [i["request_id"] for i in inc["items"]] == [req["in2"], req["in1"]]
    assert inc["items"][1]["user"] == {"id": u["e"], "display_name": names["e"]}
    assert inc["items"][1]["from_user_id"] == u["e"] and inc["items"][1]["to_user_id"] == u["a"]
    assert get("/v1/friend-requests", auth).json() == inc  # incoming is the default
    out = get("/v1/friend-requests?direction=outgoing", auth).json()
    assert [i["request_id"] for i in out["items"]] == [req["out"]]
    assert out["items"][0]["user"]["id"] == u["x"]
    items, pages = all_pages("/v1/friend-requests?direction=incoming", auth, 1)
    assert [i["request_id"] for i in items] == [req["in2"], req["in1"]]
    assert get("/v1/friend-requests?direction=sideways", auth).status == 400


def test_chat_rooms_inbox(world):
    u, names, rooms, auth = world["u"], world["names"], world["rooms"], world["auth"]
    r = get("/v1/chat-rooms", auth).json()
    assert [i["room_id"] for i in r["items"]] == [rooms["group"], rooms["ab"],
                                                 f"{rooms['group']}-old"]
    group, direct, empty = r["items"]
    assert group["title"] == "Team" and group["kind"] == "group" and group["unread_count"] == 0
    assert group["members"] == [{"id": u["a"], "display_name": names["a"]},
                                {"id": u["b"], "display_name": names["b"]},
                                {"id": u["e"], "display_name": names["e"]}]
    assert direct["unread_count"] == 5 and direct["title"] is None
    assert direct["last_message"] == {"message_id": world["msgs"][-1]["message_id"], "seq": 25,
                                      "sender_id": u["a"], "body": "message 25",
                                      "sent_at": "2026-01-01T00:02:05.000000Z"}
    assert empty["last_message"] is None and empty["unread_count"] == 0
    items, pages = all_pages("/v1/chat-rooms", auth, 2)
    assert [i["room_id"] for i in items] == [i["room_id"] for i in r["items"]] and pages == 2
    # b's inbox holds only b's entry; c has none
    assert [i["unread_count"] for i in get("/v1/chat-rooms", bearer(u["b"])).json()["items"]] \
        == [0]
    assert get("/v1/chat-rooms", world["auth_c"]).json()["items"] == []


def test_direct_room_check(world):
    u, rooms, auth = world["u"], world["rooms"], world["auth"]
    assert get(f"/v1/chat-rooms/check/{u['b']}", auth).json() == {"exists": True,
                                                                  "room_id": rooms["ab"]}
    assert get(f"/v1/chat-rooms/check/{u['a']}", bearer(u["b"])).json()["room_id"] == rooms["ab"]
    assert get(f"/v1/chat-rooms/check/{u['c']}", auth).json() == {"exists": False,
                                                                  "room_id": None}
    assert get(f"/v1/chat-rooms/check/{u['b']}", world["auth_c"]).json()["exists"] is False
    assert get("/v1/chat-rooms/check/nobody", auth).status == 400


def test_messages_members_only_and_paging(world):
    u, rooms, auth, msgs = world["u"], world["rooms"], world["auth"], world["msgs"]
    path = f"/v1/chat-rooms/{rooms['ab']}/messages"
    first = get(path, auth).json()
    assert [m["seq"] for m in first["items"]] == list(range(25, 5, -1))
    m = first["items"][0]
    assert m == {"message_id": msgs[-1]["message_id"], "room_id": rooms["ab"], "seq": 25,
                 "sender_id": u["a"], "body": "message 25", "client_message_id": "c25",
                 "sent_at": "2026-01-01T00:02:05.000000Z"}
    rest = get(f"{path}?cursor={first['next_cursor']}", auth).json()
    assert [m["seq"] for m in rest["items"]] == [5, 4, 3, 2, 1] and rest["next_cursor"] is None
    items, pages = all_pages(path, bearer(u["b"]), 7)
    assert [m["seq"] for m in items] == list(range(25, 0, -1)) and pages == 4
    assert [m["seq"] for m in get(f"{path}?before_seq=10&limit=3", auth).json()["items"]] \
        == [9, 8, 7]
    assert get(f"{path}?before_seq=1", auth).json() == {"items": [], "next_cursor": None}
    # not a member: 403; unknown room: 404; bad parameters: 400
    r = get(path, world["auth_c"])
    assert r.status == 403 and r.json()["type"] == "urn:hearlers:problem:not-a-member"
    assert get(f"/v1/chat-rooms/{uuid.uuid4()}/messages", auth).status == 404
    assert get(f"/v1/chat-rooms/{rooms['ac']}/messages", auth).status == 403
    for bad in ("before_seq=0", "before_seq=x", "limit=500", "cursor=%%%"):
        assert get(f"{path}?{bad}", auth).status == 400, bad
    other = get(f"/v1/chat-rooms/{rooms['group']}/messages", auth)
    assert other.status == 200 and other.json()["items"] == []
    # a cursor of one room does not page another
    assert get(f"/v1/chat-rooms/{rooms['group']}/messages?cursor={first['next_cursor']}",
               auth).status == 400


def test_notifications(world):
    u, names, notes, auth = world["u"], world["names"], world["notes"], world["auth"]
    r = get("/v1/notifications", auth).json()
    assert [n["id"] for n in r["items"]] == [n["_id"] for n in reversed(notes)]
    n = r["items"][-1]
    assert n["kind"] == "friend_request" and n["read"] is False and n["read_at"] is None
    assert n["actor"] == {"id": u["b"], "display_name": names["b"]}
    assert n["preview"] == "p0" and n["seq"] == 1 and n["room_id"] == world["rooms"]["ab"]
    unread = get("/v1/notifications?unread=true", auth).json()
    assert [n["kind"] for n in unread["items"]] == ["new_message", "friend_request"]
    assert len(get("/v1/notifications?unread=false", auth).json()["items"]) == 4
    items, pages = all_pages("/v1/notifications?unread=true", auth, 1)
    assert len(items) == 2 and pages == 2
    assert get("/v1/notifications?unread=maybe", auth).status == 400
    assert get("/v1/notifications", world["auth_c"]).json()["items"] == []


def test_notifications_read_past_stubs_and_read_ones(world):
    """Each read is one _id range sorted by _id with a limit (FerretDB patch 7); the query
    server skips stubs and, for unread=true, read notifications, and reads on below them."""
    d, u, auth = db(), world["u"], world["auth_c"]
    notes = []
    for i in range(80):  # oldest first: one unread, then a stub, then 78 read ones
        event = uid()
        doc = {"_id": f"{u['c']}:{(ts(500 + i)) * 1000:019d}:{event}", "user_id": u["c"],
               "event_id": event}
        if i != 1:
            doc.update(kind="new_message", actor_id=u["a"], created_at=at(500 + i),
                       read=i != 0, read_at=at(600) if i else None, room_id=world["rooms"]["ab"],
                       seq=i + 1, preview=f"n{i}")
        notes.append(doc)
    d.notifications.insert_many(notes)
    try:
        listed = [n["_id"] for n in reversed(notes) if "kind" in n]
        for limit in (1, 7, 79, 100):
            items, _ = all_pages("/v1/notifications", auth, limit)
            assert [i["id"] for i in items] == listed, limit
        # 78 read ones above the only unread one: more than one request's reads at limit 2 (4
        # reads of 12), so a short page with a cursor comes first, then the unread one once
        items, pages = all_pages("/v1/notifications?unread=true", auth, 2)
        assert [i["id"] for i in items] == [notes[0]["_id"]] and pages > 1
        items, pages = all_pages("/v1/notifications?unread=true", auth, 100)
        assert [i["id"] for i in items] == [notes[0]["_id"]]
        # a cursor of another user's notifications is refused
        other = get("/v1/notifications?limit=1", world["auth"]).json()["next_cursor"]
        assert get(f"/v1/notifications?cursor={other}", auth).status == 400
    finally:
        d.notifications.delete_many({"user_id": u["c"]})


def test_read_your_writes_waits_for_the_watermark(world):
    d = db()
    key = f"ev:{uuid.uuid4()}"
    tok = consistency([(key, 3)])
    path = f"/v1/users/{world['u']['a']}"
    # not reached: 503 with Retry-After after the wait
    t0 = time.monotonic()
    r = get(path, {"X-Consistency-Token": tok, "X-Consistency-Wait-Ms": "300"})
    assert r.status == 503 and r.headers["Retry-After"]
    assert time.monotonic() - t0 >= 0.3
    d.watermarks.insert_one({"_id": key, "v": 2})
    assert get(path, {"X-Consistency-Token": tok, "X-Consistency-Wait-Ms": "0"}).status == 503
    # reached while the read waits: answered as soon as the projector advances it
    box = {}
    t = threading.Thread(target=lambda: box.update(r=get(path, {
        "X-Consistency-Token": tok, "X-Consistency-Wait-Ms": "8000"})))
    t.start()
    time.sleep(0.3)
    d.watermarks.update_one({"_id": key}, {"$max": {"v": 3}})
    t.join(10)
    assert box["r"].status == 200
    # the same on a caller route; a forged token or a bad wait is 400
    assert get("/v1/friends", {**world["auth"], "X-Consistency-Token": tok}).status == 200
    assert get(path, {"X-Consistency-Token": tok[:-3] + "abc"}).status == 400
    assert get(path, {"X-Consistency-Token": tok, "X-Consistency-Wait-Ms": "10001"}).status == 400
    assert get(path, {"X-Consistency-Token": tok, "X-Consistency-Wait-Ms": "-1"}).status == 400
    # /metrics: the projection lag reads waited for, and waits by outcome
    metrics = http("GET", f"{QUERY_DIRECT}/metrics").body.decode()
    assert "hl_query_projection_lag_seconds_count" in metrics
    assert 'hl_query_consistency_waits_total{result="timeout"}' in metrics
    assert 'hl_query_consistency_waits_total{result="reached"}' in metrics


def test_rebuilt_read_model_switches_through_the_alias(world):
    """A rebuild fills a shadow collection and switches read_model_aliases; reads follow within
    the alias cache time (<= 1 s) and return when the alias goes away."""
    d = db()
    u = world["u"]
    shadow = f"notifications_rebuild_{world['tag']}"
    d[shadow].insert_one({"_id": f"{u['a']}:{ts(999) * 1000:019d}:{uuid.uuid4()}", "user_id": u["a"],
                          "kind": "friend_accepted", "actor_id": u["c"], "created_at": at(999),
                          "read": False, "read_at": None})
    previous = d.read_model_aliases.find_one({"_id": "notifications"})
    try:
        d.read_model_aliases.replace_one(
            {"_id": "notifications"},
            {"_id": "notifications", "collection": shadow,
             "rebuilt_at": datetime.datetime.now(UTC)}, upsert=True)
        t0 = time.monotonic()
        items = eventually(lambda: (lambda i: i if len(i) == 1 else None)(
            get("/v1/notifications", world["auth"]).json()["items"]), timeout_s=5,
            what="reads from the shadow collection")
        assert time.monotonic() - t0 < 2.5
        assert items[0]["actor"]["id"] == u["c"]
    finally:
        if previous:
            d.read_model_aliases.replace_one({"_id": "notifications"}, previous)
        else:
            d.read_model_aliases.delete_one({"_id": "notifications", "collection": shadow})
    eventually(lambda: len(get("/v1/notifications", world["auth"]).json()["items"]) == 4,
               timeout_s=5, what="reads back on the logical collection")
    d.drop_collection(shadow)


def test_revocation_reaches_reads_that_saw_the_session_live(world):
    """A session seen live is reused for at most 1 s (--session-cache-ms); a read carrying a
    consistency token always re-reads it, so log-out + token is refused at once."""
    d = db()
    u = world["u"]
    for with_token in (True, False):
        sid = uid()
        d.sessions.insert_one({"_id": sid, "user_id": u["a"], "created_at": at(0),
                               "expires_at": at(10**8), "revoked_at": None, "version": 1})
        auth = bearer(u["a"], sid)
        assert get("/v1/friends", auth).status == 200  # now remembered as live
        d.sessions.update_one({"_id": sid}, {"$set": {"revoked_at": datetime.datetime.now(UTC),
                                                      "version": 2}})
        t0 = time.monotonic()
        if with_token:
            key = f"cdc.sessions:{sid}"
            d.watermarks.insert_one({"_id": key, "v": 2})
            r = get("/v1/friends", {**auth, "X-Consistency-Token": consistency([(key, 2)])})
            assert r.status == 401 and r.json()["type"] == "urn:hearlers:problem:revoked-token"
        else:
            eventually(lambda: get("/v1/friends", auth).status == 401, timeout_s=5,
                       what="revocation of a cached session")
            assert time.monotonic() - t0 < 2.5
        # and it stays refused
        assert get("/v1/friends", auth).status == 401


def test_names_of_many_members_in_one_lookup(world):
    """More than 32 distinct users on a page are named through one $in, fewer through _id
    lookups (query-server/src/read_store.c): both give every name."""
    d = db()
    user = uid()
    for size in (40, 5):
        members = [uid() for _ in range(size)]
        d.user_profiles.insert_many([{"_id": m, "display_name": f"M{i}", "display_name_lower":
                                      f"m{i}", "created_at": at(i), "version": 1}
                                     for i, m in enumerate(members)])
        room = uid()
        d.inbox.insert_one({"_id": f"{user}:{room}", "user_id": user, "room_id": room,
                            "kind": "group", "title": f"Big {size}", "member_ids": members,
                            "last_message": None, "last_activity_at": at(1000 + size),
                            "last_seq": 0, "last_read_seq": 0})
        items = get("/v1/chat-rooms", bearer(user)).json()["items"]
        got = next(i for i in items if i["room_id"] == room)["members"]
        assert got == [{"id": m, "display_name": f"M{i}"} for i, m in enumerate(members)]


def test_message_pages_follow_the_projection(world):
    """Pages are cut by chat_rooms.last_seq and kept per message (messages never change): a
    message not projected yet is absent, not remembered as absent; a room chat_rooms does not
    show yet is read by one sorted query instead."""
    d = db()
    u = world["u"]
    room, other = uid(), uid()
    for r, last in ((room, 5), (other, None)):
        if last is not None:
            d.chat_rooms.insert_one({"_id": r, "kind": "group", "title": "t", "created_by": u["a"],
                                     "direct_key": None, "last_seq": last, "created_at": at(0),
                                     "updated_at": at(0), "version": last + 1})
        d.room_members.insert_one({"_id": f"{r}:{u['a']}", "room_id": r, "user_id": u["a"],
                                   "joined_at": at(0), "last_read_seq": 0, "room_version": 1})

    def msg(r, s):
        return {"_id": f"{r}:{s:019d}", "message_id": uid(), "room_id": r, "seq": s,
                "sender_id": u["a"], "body": f"b{s}",
                "client_message_id": f"c{s}", "created_at": at(s), "room_version": s + 1}
    d.messages.insert_many([msg(room, s) for s in (1, 2, 3)] + [msg(other, s) for s in (1, 2, 3)])
    path = f"/v1/chat-rooms/{room}/messages"
    assert [m["seq"] for m in get(path, world["auth"]).json()["items"]] == [3, 2, 1]
    d.messages.insert_many([msg(room, 4), msg(room, 5)])
    assert [m["seq"] for m in get(path, world["auth"]).json()["items"]] == [5, 4, 3, 2, 1]
    page = get(f"{path}?limit=2", world["auth"]).json()
    assert [m["body"] for m in page["items"]] == ["b5", "b4"]
    assert [m["seq"] for m in get(f"{path}?limit=2&cursor={page['next_cursor']}",
                                  world["auth"]).json()["items"]] == [3, 2]
    r = get(f"/v1/chat-rooms/{other}/messages?limit=2", world["auth"]).json()
    assert [m["seq"] for m in r["items"]] == [3, 2] and r["next_cursor"]
    assert [m["seq"] for m in get(f"/v1/chat-rooms/{other}/messages?cursor={r['next_cursor']}",
                                  world["auth"]).json()["items"]] == [1]


def test_renames_reach_lists(world):
    """Display names in lists are reused for at most 1 s (--name-cache-ms); a read with a
    consistency token reads them fresh."""
    d = db()
    u, auth = world["u"], world["auth"]

    def name_of_c():
        return next(f["display_name"] for f in get("/v1/friends", auth).json()["items"]
                    if f["id"] == u["c"])
    before = name_of_c()
    key = f"cdc.users:{u['c']}"
    d.user_profiles.update_one({"_id": u["c"]}, {"$set": {"display_name": before + " II"}})
    d.watermarks.insert_one({"_id": key, "v": 2})
    r = get("/v1/friends", {**auth, "X-Consistency-Token": consistency([(key, 2)])})
    assert next(f["display_name"] for f in r.json()["items"] if f["id"] == u["c"]) \
        == before + " II"
    d.user_profiles.update_one({"_id": u["c"]}, {"$set": {"display_name": before}})
    t0 = time.monotonic()
    eventually(lambda: name_of_c() == before, timeout_s=5, what="the rename back")
    assert time.monotonic() - t0 < 2.5
