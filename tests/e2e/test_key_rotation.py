"""Signing-key rotation (issue 17): rotating HL_TOKEN_SECRET logs nobody out.

Under a client load that keeps calling all three token-checking servers (command server, query
server, stream listener, all through the gateway) with tokens issued before the rotation, the
servers are restarted one at a time with the new secret as HL_TOKEN_SECRET and the old one as
HL_TOKEN_SECRET_PREVIOUS until a deadline (HL_TOKEN_PREVIOUS_UNTIL). No call may answer 401 or
403: while a server restarts the gateway answers 502/503 (retryable), nothing else. New tokens
carry the new key id and work everywhere; once the deadline passes (on a running server) or the
previous secret is dropped, the old tokens are refused with 401 invalid-token. The servers get
their original configuration back at the end.
"""
import os
import subprocess
import threading
import time
import uuid

import pytest

from conftest import COMMAND, GATEWAY, QUERY, ROOT, eventually, http, login, new_user
from stream_client import SSE

SERVERS = os.path.join(ROOT, "deploy", "local", "servers.sh")
PORT = int(os.environ["HL_GATEWAY_PORT"])
OLD = os.environ.get("HL_TOKEN_SECRET", "hearlers-dev-secret-change-me")
NEW = f"rotated-{uuid.uuid4().hex}"
ORDER = ("command-server", "query-server", "stream-listener")
RETRYABLE = {502, 503, 504}


def restart(name, **env):
    """servers.sh stop NAME, then start it with env added (waits until it is healthy)."""
    subprocess.run(["bash", SERVERS, "stop", name], check=True, capture_output=True, timeout=120)
    out = subprocess.run(["bash", SERVERS, "start", name], capture_output=True, text=True,
                         timeout=240, env=dict(os.environ, **{k: str(v) for k, v in env.items()}))
    assert out.returncode == 0, out.stderr[-2000:]


def rotated(until_s, previous=OLD, secret=NEW):
    env = {"HL_TOKEN_SECRET": secret}
    if previous:
        env.update(HL_TOKEN_SECRET_PREVIOUS=previous, HL_TOKEN_PREVIOUS_UNTIL=until_s)
    return env


def kid(headers):
    return headers["Authorization"].split()[1].split(".")[0]


def stream_status(headers):
    try:
        s = SSE(PORT, "/v1/notifications/stream", headers, timeout=10)
    except OSError:
        return 0
    s.close()
    return s.status


def calls(headers, consistency):
    """One round of the load: (route, status) of a read, a write, a stream and a read-your-writes
    read with a consistency token from before the rotation."""
    def status(fn):
        try:
            return fn().status
        except OSError:
            return 0
    return [
        ("GET /v1/friends", status(lambda: http("GET", f"{QUERY}/v1/friends", None, headers))),
        ("PUT /v1/users/me/presence", status(lambda: http(
            "PUT", f"{COMMAND}/v1/users/me/presence", {"status": "online"}, headers))),
        ("GET /v1/notifications/stream", stream_status(headers)),
        ("GET /v1/friends + X-Consistency-Token", status(lambda: http(
            "GET", f"{QUERY}/v1/friends", None, {**headers, "X-Consistency-Token": consistency}))),
    ]


class Load:
    """Clients calling with pre-rotation tokens in a loop on their own threads."""

    def __init__(self, users):
        self.users = users
        self.seen = []  # (route, status)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(u,), daemon=True) for u in users]
        for t in self.threads:
            t.start()

    def run(self, user):
        headers, consistency = user
        while not self.stop.is_set():
            self.seen += calls(headers, consistency)
            time.sleep(0.05)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        return self.seen


@pytest.fixture
def restore():
    yield
    for name in ORDER:  # the original configuration, whatever happened
        restart(name)


def all_ok(headers, consistency):
    got = calls(headers, consistency)
    assert all(s in (200, 201) for _, s in got), got


def test_rotation_under_load_logs_nobody_out(restore):
    users = []
    for i in range(3):
        uid, headers, email, password = new_user(f"Rot{i}")
        w = http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "online"}, headers)
        assert w.status == 200, w.body
        users.append((headers, w.json()["consistency_token"]))
    old_kid = kid(users[0][0])
    idem = {**users[0][0], "Idempotency-Key": str(uuid.uuid4())}
    first = http("POST", f"{COMMAND}/v1/notifications/read", {"all": True}, idem)
    assert first.status == 200, first.body
    load = Load(users)
    try:
        until = int(time.time()) + 3600
        for name in ORDER:
            restart(name, **rotated(until))
            # each server, once back, takes the old tokens again
            eventually(lambda: all(s in (200, 201) for _, s in calls(*users[0])), 60,
                       f"old tokens accepted after {name} restarted")
        time.sleep(1)
    finally:
        seen = load.finish()
    refused = [(r, s) for r, s in seen if s in (401, 403)]
    assert not refused, f"{len(refused)} refusals of pre-rotation tokens: {refused[:10]}"
    other = [(r, s) for r, s in seen if s not in (200, 201) and s not in RETRYABLE and s != 0]
    assert not other, other[:10]
    per_route = {r for r, s in seen if s in (200, 201)}
    assert len(per_route) == 4, per_route  # every kind of call succeeded during the rotation
    print(f"rotation under load: {len(seen)} calls, "
          f"{sum(s in RETRYABLE or s == 0 for _, s in seen)} retryable while a server restarted, "
          f"0 refused")

    # A retry across the rotation replays the stored answer (the request hash was keyed with
    # the previous key), not 422 idempotency-key-reused.
    again = http("POST", f"{COMMAND}/v1/notifications/read", {"all": True}, idem)
    assert again.status == 200 and again.headers.get("Idempotent-Replayed") == "true", again.body

    # New tokens: signed with the new key, valid everywhere; old ones still valid.
    uid, new_headers, email, password = new_user("RotNew")
    assert kid(new_headers) != old_kid
    w = http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "online"}, new_headers)
    assert w.status == 200
    all_ok(new_headers, w.json()["consistency_token"])
    for u in users:
        all_ok(*u)
    relogin = login(email, password)
    assert relogin.status == 201 and relogin.json()["token"].split(".")[0] == kid(new_headers)

    # The deadline passes on a running server: its old tokens are refused from then on.
    until = int(time.time()) + 40
    restart("query-server", **rotated(until))
    assert time.time() < until - 2, "restart took longer than the overlap left"
    assert http("GET", f"{QUERY}/v1/friends", None, users[0][0]).status == 200
    time.sleep(max(0.0, until - time.time()) + 0.5)
    r = http("GET", f"{QUERY}/v1/friends", None, users[0][0])
    assert r.status == 401 and r.json()["type"].endswith("invalid-token"), r.body
    assert r.headers["Content-Type"] == "application/problem+json"
    assert http("GET", f"{QUERY}/v1/friends", None, new_headers).status == 200

    # The previous secret dropped from the configuration: refused on the other two as well.
    for name in ("command-server", "stream-listener"):
        restart(name, **rotated(0, previous=None))
    r = http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "online"}, users[0][0])
    assert r.status == 401 and r.json()["type"].endswith("invalid-token"), r.body
    assert stream_status(users[0][0]) == 401
    assert http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "online"},
                new_headers).status == 200
    assert stream_status(new_headers) == 200


def test_a_previous_secret_without_a_deadline_is_refused_at_start():
    bin_ = os.path.join(os.environ.get("HL_BUILD_DIR", os.path.join(ROOT, "build")),
                        "query-server", "query-server")
    out = subprocess.run([bin_, "--http-listen=127.0.0.1:1"], capture_output=True, text=True,
                         timeout=30, env=dict(os.environ, HL_TOKEN_SECRET=NEW,
                                              HL_TOKEN_SECRET_PREVIOUS=OLD))
    assert out.returncode != 0
    assert "HL_TOKEN_PREVIOUS_UNTIL" in out.stderr + out.stdout
