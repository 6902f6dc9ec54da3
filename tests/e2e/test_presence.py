"""Presence from connections (SPEC §8, issue 11) against the real stack: stream listeners
publish connect/disconnect facts and heartbeats to stream.connections, the projector derives the
presence read model, and GET /v1/users/{id} and friends' presence streams show the effective
value. The test profiles run with a 3 s grace period and 1 s heartbeats (deploy/local/env.sh)."""
import os
import signal
import time

from conftest import COMMAND, QUERY, befriend, eventually, http, new_user
from stream_client import SSE, WS
from test_streams import free_port, start_listener

PORT = int(os.environ["HL_GATEWAY_PORT"])
GRACE_S = int(os.environ.get("HL_PRESENCE_GRACE_MS", "3000")) / 1000


def presence(user):
    r = http("GET", f"{QUERY}/v1/users/{user}")
    assert r.status == 200, r.body
    return r.json()["presence"]


def friends():
    """Two friends (a, a_headers, b, b_headers), the friendship projected."""
    a, ah, _, _ = new_user("Ada")
    b, bh, _, _ = new_user("Bob")
    befriend(ah, b, bh)
    eventually(lambda: [f["id"] for f in http("GET", f"{QUERY}/v1/friends", None, ah)
                        .json()["items"]] == [b], 30, "the friendship in the read models")
    return a, ah, b, bh


def watch(headers):
    """A presence stream and its snapshot items by user id."""
    s = SSE(PORT, "/v1/friends/presence/stream", headers)
    assert s.status == 200, s.body
    snap = s.next_event(timeout=15)
    assert snap["event"] == "snapshot", snap
    return s, {i["user_id"]: i["presence"] for i in snap["data"]["items"]}


def next_presence(stream, user, timeout=20):
    ev = stream.next_event(timeout=timeout)
    assert ev and ev["event"] == "presence" and ev["data"]["user_id"] == user, ev
    return ev["data"]["presence"]


def test_online_while_connected_offline_after_the_grace_period():
    a, ah, b, bh = friends()
    assert presence(b) == "offline"  # registered, never connected: follows connections
    watcher, snap = watch(ah)
    assert snap == {b: "offline"}
    conn = SSE(PORT, "/v1/notifications/stream", bh)
    assert conn.status == 200, conn.body
    assert next_presence(watcher, b) == "online"
    assert presence(b) == "online"  # the event is sent after the read model shows it
    # a second connection (WebSocket) and closing the first changes nothing
    ws = WS(PORT, headers=bh)
    assert ws.status == 101
    conn.close()
    time.sleep(GRACE_S + 1.5)
    assert presence(b) == "online"
    ws.close()
    closed = time.monotonic()
    time.sleep(min(1.0, GRACE_S / 3))
    assert presence(b) == "online", "offline before the grace period passed"
    assert next_presence(watcher, b, timeout=GRACE_S + 20) == "offline"
    assert time.monotonic() - closed >= GRACE_S - 0.5
    assert presence(b) == "offline"
    watcher.close()


def test_offline_after_kill_9_of_the_listener_once_heartbeats_stop():
    a, ah, b, bh = friends()
    watcher, _ = watch(ah)
    port = free_port()
    p = start_listener(port)
    try:
        conn = SSE(port, "/v1/notifications/stream", bh)
        assert conn.status == 200, conn.body
        assert next_presence(watcher, b) == "online"
        time.sleep(GRACE_S + 1)  # heartbeats keep it online past the grace period
        assert presence(b) == "online"
        os.kill(p.pid, signal.SIGKILL)  # no disconnect fact: only the heartbeats stop
        p.wait()
        killed = time.monotonic()
        assert next_presence(watcher, b, timeout=GRACE_S + 20) == "offline"
        assert time.monotonic() - killed >= GRACE_S - 1.5
        assert presence(b) == "offline"
        conn.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    watcher.close()


def test_user_set_status_wins_over_connections():
    a, ah, b, bh = friends()
    watcher, _ = watch(ah)
    conn = SSE(PORT, "/v1/notifications/stream", bh)
    assert conn.status == 200, conn.body
    assert next_presence(watcher, b) == "online"
    # invisible: offline while connected
    assert http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "offline"}, bh).status == 200
    assert next_presence(watcher, b) == "offline"
    assert presence(b) == "offline"
    assert http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "away"}, bh).status == 200
    assert next_presence(watcher, b) == "away"
    assert presence(b) == "away"
    # online again: follows the connections (still open)
    assert http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "online"}, bh).status == 200
    assert next_presence(watcher, b) == "online"
    # a connection change while invisible shows nothing to friends
    assert http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "offline"}, bh).status == 200
    assert next_presence(watcher, b) == "offline"
    conn.close()
    time.sleep(GRACE_S + 2)
    assert presence(b) == "offline"
    assert watcher.ended(1.0) is False  # no event: the effective value did not change
    watcher.close()
