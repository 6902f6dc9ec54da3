"""Real-time streams (issue 11, SPEC §8) against the real stack: the projector's change feed
(stream.changes) and the stream listener's SSE routes and /v1/ws WebSocket. Every streamed item
is compared with what the query API answers right after; resumes read the gap from the read
models (Last-Event-ID), however long it is."""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import (COMMAND, COMMAND_DIRECT, QUERY, ROOT, befriend, eventually, http,
                      new_user, free_port)
from stream_client import SSE, WS

# Streams are read through the gateway (SPEC §7: /v1/**/stream and /v1/ws go to the listener);
# LISTENER_PORT is the listener's own (internal) port, for its /metrics and /readyz.
PORT = int(os.environ["HL_GATEWAY_PORT"])
LISTENER_PORT = int(os.environ["HL_STREAM_PORT"])
BUILD = os.environ.get("HL_BUILD_DIR", os.path.join(ROOT, "build"))
LISTENER = os.path.join(BUILD, "query-server", "stream-listener")


def send(room, headers, body=None, base=COMMAND):
    r = http("POST", f"{base}/v1/chat-rooms/{room}/messages",
             {"body": body or f"hello {uuid.uuid4().hex[:8]}", "client_message_id": uuid.uuid4().hex},
             headers)
    assert r.status == 201, r.body
    return r.json()


def pair():
    """Two friends with a direct room: (a_id, a_headers, b_id, b_headers, room)."""
    a, ah, _, _ = new_user("Ada")
    b, bh, _, _ = new_user("Bob")
    befriend(ah, b, bh)
    r = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b]}, ah)
    assert r.status in (200, 201), r.body
    room = r.json()["room_id"]
    for h in (ah, bh):  # streams answer as the query API does: only once the room is projected
        eventually(lambda: http("GET", f"{QUERY}/v1/chat-rooms/{room}/messages", None, h).status
                   == 200, 30, "the room in the read models")
    return a, ah, b, bh, room


def room_path(room):
    return f"/v1/chat-rooms/{room}/messages/stream"


def query_message(room, headers, seq):
    """The query API's item of message seq. The messages read model holds it before its event
    is sent, but GET .../messages bounds a page by chat_rooms.last_seq, a read model of another
    CDC topic that may trail by a few ms: poll (bounded) until the page shows that seq."""
    def fetch():
        r = http("GET", f"{QUERY}/v1/chat-rooms/{room}/messages?before_seq={seq + 1}&limit=1",
                 None, headers)
        assert r.status == 200, r.body
        items = r.json()["items"]
        return items[0] if items and items[0]["seq"] == seq else None
    return eventually(fetch, 15, f"message {seq} in the query API")


def open_room(room, headers, port=PORT, last=None, **kw):
    h = dict(headers)
    if last:
        h["Last-Event-ID"] = last
    s = SSE(port, room_path(room), h, **kw)
    assert s.status == 200, s.body
    assert s.headers["Content-Type"].startswith("text/event-stream")
    return s


def wait_subscribed(stream, room, headers, sender_headers):
    """Send one message and return its event. The listener answers 200 only once the
    subscription is attached to its channel, so a message sent now is delivered (live or from
    the read model); the bound is the projection's latency on a loaded machine."""
    sent = send(room, sender_headers, base=COMMAND_DIRECT)
    ev = stream.next_event(timeout=30)
    assert ev and ev["event"] == "message" and ev["data"]["seq"] == sent["seq"], ev
    return ev


def test_room_stream_live_message_and_read_equal_query_api():
    a, ah, b, bh, room = pair()
    s = open_room(room, ah)
    first = wait_subscribed(s, room, ah, bh)
    assert first["event"] == "message"
    assert s.retry == 1000
    t0 = time.monotonic()
    sent = send(room, bh, "live one")
    ev = s.next_event(timeout=15)
    latency = time.monotonic() - t0
    assert ev["event"] == "message" and ev["data"]["seq"] == sent["seq"]
    assert ev["data"] == query_message(room, ah, sent["seq"])
    assert latency < 5, latency
    r = http("POST", f"{COMMAND}/v1/chat-rooms/{room}/read", {"up_to_seq": sent["seq"]}, ah)
    assert r.status == 200, r.body
    ev = s.next_event(timeout=15)
    assert ev["event"] == "read" and ev["data"] == {"user_id": a, "up_to_seq": sent["seq"]}
    s.close()


def test_resume_after_5_missed_then_live():
    a, ah, b, bh, room = pair()
    s = open_room(room, ah)
    last = wait_subscribed(s, room, ah, bh)["id"]
    s.close()
    seqs = [send(room, bh)["seq"] for _ in range(5)]
    query_message(room, ah, seqs[-1])
    s = open_room(room, ah, last=last)
    got = s.events(5)
    assert [e["data"]["seq"] for e in got] == seqs
    assert [e["data"] for e in got] == [query_message(room, ah, q) for q in seqs]
    live = send(room, bh)
    ev = s.next_event(timeout=15)
    assert ev["data"]["seq"] == live["seq"]  # no duplicate, no hole
    s.close()


def test_resume_after_1000_missed():
    a, ah, b, bh, room = pair()
    s = open_room(room, ah)
    last = wait_subscribed(s, room, ah, bh)["id"]
    s.close()
    # the writer goes to the command server directly: the gateway's per-address write rate
    # limit is not what this test is about
    seqs = [send(room, bh, f"m{i}", COMMAND_DIRECT)["seq"] for i in range(1000)]
    def projected():
        items = http("GET", f"{QUERY}/v1/chat-rooms/{room}/messages?limit=1", None, ah)
        return items.json()["items"] and items.json()["items"][0]["seq"] == seqs[-1]
    eventually(projected, 120, "projection of 1000 messages")
    s = open_room(room, ah, last=last, timeout=60)
    got = s.events(1000, timeout=60)
    assert [e["data"]["seq"] for e in got] == seqs
    s.close()


def test_refusals_are_problem_documents():
    a, ah, b, bh, room = pair()
    c, ch, _, _ = new_user("Cy")
    cases = [
        (SSE(PORT, room_path(room)), 401, "missing-token"),
        (SSE(PORT, room_path(room), {"Authorization": "Bearer nope"}), 401, "invalid-token"),
        (SSE(PORT, room_path(room), ch), 403, "not-a-member"),
        (SSE(PORT, room_path(str(uuid.uuid4())), ah), 404, "not-found"),
        (SSE(PORT, room_path(room), {**ah, "Last-Event-ID": "garbage"}), 400,
         "invalid-last-event-id"),
        (SSE(PORT, "/v1/nope/stream", ah), 404, "not-found"),
    ]
    for s, status, reason in cases:
        assert s.status == status, (s.status, s.body)
        p = s.problem()
        assert p["type"] == f"urn:hearlers:problem:{reason}" and p["status"] == status, p
        assert s.headers["Content-Type"] == "application/problem+json"
        s.close()
    # an id of another stream
    n = SSE(PORT, "/v1/notifications/stream", ah)
    assert n.status == 200
    n.close()
    other = open_room(room, ah)
    rid = wait_subscribed(other, room, ah, bh)["id"]
    other.close()
    s = SSE(PORT, "/v1/notifications/stream", {**ah, "Last-Event-ID": rid})
    assert s.status == 400 and "another stream" in s.problem()["detail"], s.body


def test_access_token_parameter_and_last_event_id_parameter():
    a, ah, b, bh, room = pair()
    token = ah["Authorization"].split()[1]
    s = SSE(PORT, f"{room_path(room)}?access_token={token}")
    assert s.status == 200, s.body
    first = wait_subscribed(s, room, ah, bh)
    s.close()
    sent = send(room, bh)
    s = SSE(PORT, f"{room_path(room)}?access_token={token}&last_event_id={first['id']}")
    assert s.status == 200, s.body
    assert s.next_event(timeout=30)["data"]["seq"] == sent["seq"]
    s.close()
    log = open(os.path.join(os.environ["HL_LOG_DIR"], "stream-listener.log")).read()
    assert token not in log


def test_notifications_stream_item_equals_query_api():
    a, ah, b, bh, room = pair()
    s = SSE(PORT, "/v1/notifications/stream", ah)
    assert s.status == 200, s.body
    time.sleep(0.3)  # the subscription starts asynchronously; a missed one comes on resume
    send(room, bh, "notify me")
    ev = s.next_event(timeout=10)
    assert ev["event"] == "notification"
    items = http("GET", f"{QUERY}/v1/notifications?limit=5", None, ah).json()["items"]
    assert ev["data"] in items
    last = ev["id"]
    s.close()
    for i in range(3):
        send(room, bh, f"while away {i}")
    eventually(lambda: len(http("GET", f"{QUERY}/v1/notifications?limit=10", None, ah)
                           .json()["items"]) >= 4, 15, "notifications")
    s = SSE(PORT, "/v1/notifications/stream", {**ah, "Last-Event-ID": last})
    got = s.events(3)
    assert [e["data"]["preview"] for e in got] == [f"while away {i}" for i in range(3)]
    s.close()


def test_stream_ends_after_log_out():
    a, ah, b, bh, room = pair()
    s = open_room(room, ah)
    wait_subscribed(s, room, ah, bh)
    r = http("DELETE", f"{COMMAND}/v1/sessions/current", None, ah)
    assert r.status == 204
    t0 = time.monotonic()
    assert s.ended(10), "the stream of a revoked session stayed open"
    assert time.monotonic() - t0 < 4
    # a new stream is refused once the session read model shows the log-out (the live-session
    # cache of the query API's check lasts 1 s)
    def refused():
        s = SSE(PORT, room_path(room), ah)
        s.close()
        return s.status == 401 and s.problem()["type"].endswith("revoked-token")
    eventually(refused, 5, "401 revoked-token")


def test_websocket_handshake_of_a_revoked_session_is_refused_before_101():
    """A logged-out session's /v1/ws handshake is answered 401 revoked-token (problem+json), not
    101: by the listener that saw the log-out on the feed (its open WebSocket of that session
    closed with 4401 first), and by a listener started afterwards (it loads the revoked sessions
    of the read model before it is ready). The check is in memory, not a read-store round trip
    on the event loop: with FerretDB frozen (SIGSTOP) the refusal and a live session's 101 still
    come at once."""
    _, ah, _, _ = new_user("Rita")
    _, live_h, _, _ = new_user("Liv")
    ws = WS(PORT, headers=ah)
    assert ws.status == 101
    assert http("DELETE", f"{COMMAND}/v1/sessions/current", None, ah).status == 204
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and ws.recv(timeout=30) is not None:
        pass  # the revocation's error frame, then the close
    assert ws.close_code == 4401, ws.close_code
    ws.close()

    def assert_refused(w):
        assert w.status == 401, (w.status, w.head, w.buf[:300])
        assert w.header("Content-Type").startswith("application/problem+json"), w.head
        problem = json.loads(w.buf)
        assert problem["type"] == "urn:hearlers:problem:revoked-token", problem
        assert problem["status"] == 401, problem

    refused = WS(PORT, headers=ah)
    refused.close()
    assert_refused(refused)
    port = free_port()
    p = start_listener(port)
    ferret = int(open(os.path.join(os.environ["HL_RUN_DIR"], "ferretdb.pid")).read().split()[0])
    try:
        os.kill(ferret, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            refused = WS(port, headers=ah, timeout=5)
            refused.close()
            live = WS(port, headers=live_h, timeout=5)
            live.close()
            took = time.monotonic() - t0
        finally:
            os.kill(ferret, signal.SIGCONT)
        assert_refused(refused)
        assert live.status == 101, (live.status, live.head)
        assert took < 3, f"handshakes took {took:.1f} s with the read store frozen"
    finally:
        p.kill()
        p.wait()


def test_websocket_subscribe_resume_and_errors():
    a, ah, b, bh, room = pair()
    ws = WS(PORT, headers=ah)
    assert ws.status == 101
    ws.send({"op": "subscribe", "channel": f"room:{room}"})
    time.sleep(0.3)
    sent = send(room, bh)
    m = ws.recv_event()
    assert m["channel"] == f"room:{room}" and m["event"] == "message"
    assert m["data"] == query_message(room, ah, sent["seq"])
    ws.send({"op": "dance"})
    err = ws.recv_event()
    assert err["error"]["type"].endswith("unknown-op"), err
    ws.send({"op": "subscribe", "channel": "notifications", "last_event_id": m["id"]})
    err = ws.recv_event()
    assert err["channel"] == "notifications" and err["error"]["status"] == 400, err
    ws.send({"op": "subscribe", "channel": f"room:{uuid.uuid4()}"})
    err = ws.recv_event()
    assert err["error"]["status"] == 404, err
    ws.send({"op": "unsubscribe", "channel": f"room:{room}"})
    missed = [send(room, bh)["seq"] for _ in range(3)]
    query_message(room, ah, missed[-1])
    ws.send({"op": "subscribe", "channel": f"room:{room}", "last_event_id": m["id"]})
    got = [ws.recv_event() for _ in range(3)]
    assert [g["data"]["seq"] for g in got] == missed
    ws.send_text("x" * 70000)
    assert ws.recv(timeout=10) is None and ws.close_code == 1009
    ws.close()
    bad = WS(PORT, headers={"Authorization": "Bearer nope"})
    assert bad.status != 101
    bad.close()


def test_presence_stream_snapshot_then_changes():
    a, ah, b, bh, room = pair()
    eventually(lambda: [f["id"] for f in http("GET", f"{QUERY}/v1/friends", None, ah)
                        .json()["items"]] == [b], 30, "the friendship in the read models")
    s = SSE(PORT, "/v1/friends/presence/stream", ah)
    assert s.status == 200, s.body
    snap = s.next_event(timeout=10)
    assert snap["event"] == "snapshot"
    assert [i["user_id"] for i in snap["data"]["items"]] == [b]
    r = http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "away"}, bh)
    assert r.status == 200, r.body
    ev = s.next_event(timeout=10)
    assert ev["event"] == "presence" and ev["data"]["user_id"] == b
    assert ev["data"]["presence"] == "away"
    assert http("GET", f"{QUERY}/v1/users/{b}").json()["presence"] == "away"
    s.close()


def test_room_stream_ends_when_its_reader_is_blocked():
    """Issue 11: a room stream ends when its reader may no longer read the room, e.g. after a
    block: the blocked member of a direct room loses it (stream, query API, new streams); the
    blocker keeps reading; an unblock gives it back."""
    a, ah, b, bh, room = pair()
    sb = open_room(room, bh)
    wait_subscribed(sb, room, bh, ah)
    sa = open_room(room, ah)
    wait_subscribed(sa, room, ah, bh)
    r = http("POST", f"{COMMAND}/v1/blocks", {"user_id": b}, ah)
    assert r.status == 201, r.body
    assert sb.ended(30), "the blocked reader's stream did not end"
    again = SSE(PORT, room_path(room), bh)
    assert again.status == 403 and again.problem()["type"].endswith(":blocked"), again.body
    r = http("GET", f"{QUERY}/v1/chat-rooms/{room}/messages", None, bh)
    assert r.status == 403 and r.json()["type"].endswith(":blocked"), r.body
    # the blocker keeps reading (neither may send now: the command side refuses both ways)
    assert http("GET", f"{QUERY}/v1/chat-rooms/{room}/messages", None, ah).status == 200
    assert not sa.ended(2), "the blocker's stream ended"
    sa.close()
    assert http("DELETE", f"{COMMAND}/v1/blocks/{b}", None, ah).status == 204
    eventually(lambda: http("GET", f"{QUERY}/v1/chat-rooms/{room}/messages", None, bh).status
               == 200, 30, "the room readable again after the unblock")



def start_listener(port, **env):
    e = dict(os.environ, HL_STREAM_LISTEN=f"127.0.0.1:{port}",
             HL_KAFKA_BROKERS=f"127.0.0.1:{os.environ['HL_KAFKA_PORT']}",
             HL_SCHEMA_REGISTRY_URL=os.environ["HL_REGISTRY_URL"],
             HL_MONGO_URI=f"mongodb://127.0.0.1:{os.environ['HL_MONGO_PORT']}/",
             HL_MONGO_DB=os.environ["HL_MONGO_DB"], **env)
    log = open(os.path.join(os.environ["HL_LOG_DIR"], f"stream-listener-{port}.log"), "ab")
    p = subprocess.Popen([LISTENER], env=e, stdout=log, stderr=log, start_new_session=True)

    def ready():
        try:
            return http("GET", f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
        except OSError:
            return False
    try:
        eventually(ready, 30, "a second stream listener")
    except BaseException:
        p.kill()
        p.wait()
        raise
    return p


def test_resume_after_kill_9_of_the_listener():
    port = free_port()
    p = start_listener(port)
    try:
        a, ah, b, bh, room = pair()
        s = open_room(room, ah, port=port)
        last = wait_subscribed(s, room, ah, bh)["id"]
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        s.close()
        seqs = [send(room, bh)["seq"] for _ in range(4)]
        p = start_listener(port)
        s = open_room(room, ah, port=port, last=last)
        assert [e["data"]["seq"] for e in s.events(4)] == seqs
        s.close()
    finally:
        p.kill()
        p.wait()


def test_slow_reader_is_disconnected_fast_reader_keeps_up():
    port = free_port()
    p = start_listener(port, HL_STREAM_SEND_BUFFER="8192")
    try:
        a, ah, b, bh, room = pair()
        slow = open_room(room, bh, port=port, rcvbuf=4096)
        fast = open_room(room, ah, port=port)
        wait_subscribed(fast, room, ah, bh)
        big = "y" * 3900  # the writer goes direct: 100 writes in a few seconds
        lat = []
        for _ in range(100):
            t0 = time.monotonic()
            sent = send(room, ah, big, COMMAND_DIRECT)
            while True:
                ev = fast.next_event(timeout=10)
                if ev["data"]["seq"] == sent["seq"]:
                    break
            lat.append(time.monotonic() - t0)
        metrics = http("GET", f"http://127.0.0.1:{port}/metrics").body.decode()
        slow_line = [l for l in metrics.splitlines()
                     if l.startswith("hl_stream_slow_disconnects_total")]
        assert slow_line and int(float(slow_line[0].split()[-1])) >= 1, slow_line
        lat.sort()
        assert lat[len(lat) // 2] < 1.0, lat
        slow.close()
        fast.close()
    finally:
        p.kill()
        p.wait()


def test_metrics_and_readyz():
    r = http("GET", f"http://127.0.0.1:{LISTENER_PORT}/readyz")
    assert r.status == 200 and r.json()["feed"] is True, r.body
    text = http("GET", f"http://127.0.0.1:{LISTENER_PORT}/metrics").body.decode()
    for name in ("hl_stream_connections", "hl_stream_events_sent_total"):
        assert name in text
