"""Query side through the real command side: commands → PostgreSQL → Kafka/Debezium → projector
→ read models → query API. Every read sends the X-Consistency-Token its write answered with and
must reflect that write (read-your-writes, SPEC §3), with no sleeps anywhere."""
import concurrent.futures
import statistics
import time
import uuid

from conftest import COMMAND, QUERY, befriend, http, new_visible_user, read, token_of

from conftest import CONSISTENCY_WAIT as WAIT


def cmd(method, path, body, headers):
    return http(method, f"{COMMAND}{path}", body, headers)


def test_every_route_through_the_command_side():
    tag = uuid.uuid4().hex[:10]
    a, ah, _ = new_visible_user(f"Ryw{tag} Ada")
    b, bh, _ = new_visible_user(f"Ryw{tag} Bob")
    c, ch, _ = new_visible_user(f"Ryw{tag} Cy")

    r = cmd("POST", "/v1/friend-requests", {"to_user_id": b}, ah)
    assert r.status == 201, r.body
    request_id = r.json()["request_id"]
    inc = read("/v1/friend-requests?direction=incoming", bh, token_of(r))
    assert [i["request_id"] for i in inc["items"]] == [request_id]
    assert inc["items"][0]["user"] == {"id": a, "display_name": f"Ryw{tag} Ada"}
    out = read("/v1/friend-requests?direction=outgoing", ah, token_of(r))
    assert [i["request_id"] for i in out["items"]] == [request_id]
    notes = read("/v1/notifications?unread=true", bh, token_of(r))
    assert [n["kind"] for n in notes["items"]] == ["friend_request"]
    assert notes["items"][0]["actor"]["id"] == a

    acc = cmd("POST", f"/v1/friend-requests/{request_id}/accept", None, bh)
    assert acc.status == 200, acc.body
    friends = read("/v1/friends", ah, token_of(acc))
    assert [(f["id"], f["display_name"]) for f in friends["items"]] == [(b, f"Ryw{tag} Bob")]
    assert read("/v1/friend-requests", bh, token_of(acc))["items"] == []
    assert read(f"/v1/users/{a}", {}, token_of(acc))["friend_count"] == 1

    room = cmd("POST", "/v1/chat-rooms", {"member_ids": [b]}, ah)
    assert room.status == 201, room.body
    room_id = room.json()["room_id"]
    assert read(f"/v1/chat-rooms/check/{b}", ah, token_of(room)) == {"exists": True,
                                                                     "room_id": room_id}
    assert read(f"/v1/chat-rooms/check/{c}", ah, token_of(room))["exists"] is False

    sent = cmd("POST", f"/v1/chat-rooms/{room_id}/messages",
               {"body": "hello Bob", "client_message_id": str(uuid.uuid4())}, ah)
    assert sent.status == 201, sent.body
    seq = sent.json()["seq"]
    page = read(f"/v1/chat-rooms/{room_id}/messages", bh, token_of(sent))
    assert [(m["seq"], m["body"], m["sender_id"]) for m in page["items"]] == [(seq, "hello Bob", a)]
    inbox = read("/v1/chat-rooms", bh, token_of(sent))
    entry = next(i for i in inbox["items"] if i["room_id"] == room_id)
    assert entry["unread_count"] == 1 and entry["last_message"]["body"] == "hello Bob"
    assert {m["id"] for m in entry["members"]} == {a, b}
    assert next(i for i in read("/v1/chat-rooms", ah, token_of(sent))["items"]
                if i["room_id"] == room_id)["unread_count"] == 0
    # only members read a room
    denied = http("GET", f"{QUERY}/v1/chat-rooms/{room_id}/messages",
                  headers={**ch, **WAIT, "X-Consistency-Token": token_of(sent)})
    assert denied.status == 403

    mark = cmd("POST", f"/v1/chat-rooms/{room_id}/read", {"up_to_seq": seq}, bh)
    assert mark.status == 200, mark.body
    entry = next(i for i in read("/v1/chat-rooms", bh, token_of(mark))["items"]
                 if i["room_id"] == room_id)
    assert entry["unread_count"] == 0

    found = read(f"/v1/users?q=ryw{tag}%20b", ah, token_of(acc))
    assert [u["id"] for u in found["items"]] == [b]

    # Log-out: the token stops working on the query side as soon as the revocation is read.
    bye = cmd("DELETE", "/v1/sessions/current", None, ah)
    assert bye.status == 204, bye.body
    r = http("GET", f"{QUERY}/v1/friends",
             headers={**ah, **WAIT, "X-Consistency-Token": token_of(bye)})
    assert r.status == 401 and r.json()["type"] == "urn:hearlers:problem:revoked-token"


PAIRS = 1000
WORKERS = 8


def _worker(n):
    """n write-then-read pairs for one fresh user pair: profile edits and messages in turn.
    Returns (write→visible latencies in ms, failures)."""
    tag = uuid.uuid4().hex[:8]
    a, ah, _ = new_visible_user(f"Pair{tag} A")
    b, bh, _ = new_visible_user(f"Pair{tag} B")
    befriend(ah, b, bh)
    room = cmd("POST", "/v1/chat-rooms", {"member_ids": [b]}, ah)
    assert room.status in (200, 201), room.body
    room_id = room.json()["room_id"]
    read(f"/v1/chat-rooms/{room_id}/messages?limit=1", bh, token_of(room))  # setup visible
    lags, failures = [], []
    for i in range(n):
        if i % 2 == 0:
            bio = f"bio {tag} {i}"
            w = cmd("PATCH", "/v1/users/me", {"bio": bio}, ah)
            assert w.status == 200, w.body
            answered = time.monotonic()
            r = read(f"/v1/users/{a}", {}, token_of(w), retries=0)
            ok = r["bio"] == bio and r["version"] >= w.json()["version"]
        else:
            body = f"msg {tag} {i}"
            w = cmd("POST", f"/v1/chat-rooms/{room_id}/messages",
                    {"body": body, "client_message_id": str(uuid.uuid4())}, ah)
            assert w.status == 201, w.body
            answered = time.monotonic()
            if i % 4 == 1:
                r = read(f"/v1/chat-rooms/{room_id}/messages?limit=1", bh, token_of(w),
                         retries=0)
                ok = [(m["seq"], m["body"]) for m in r["items"]] == [(w.json()["seq"], body)]
            else:
                e = next(x for x in read("/v1/chat-rooms", bh, token_of(w), retries=0)["items"]
                         if x["room_id"] == room_id)
                ok = e["last_message"]["seq"] == w.json()["seq"] and \
                    e["last_message"]["body"] == body
        lags.append((time.monotonic() - answered) * 1000)
        if not ok:
            failures.append((i, r))
    return lags, failures


def test_a_thousand_write_then_read_pairs():
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(_worker, [PAIRS // WORKERS] * WORKERS))
    lags = sorted(x for r in results for x in r[0])
    failures = [f for r in results for f in r[1]]
    assert len(lags) == PAIRS
    assert failures == [], failures[:3]
    p99 = lags[int(len(lags) * 0.99) - 1]
    print(f"\n{PAIRS} write-then-read pairs: read-after-write p50 "
          f"{statistics.median(lags):.1f} ms, p99 {p99:.1f} ms, max {lags[-1]:.1f} ms")
