"""Issue 16: two of each server behind the gateway; kill -9 one of each in turn under load.

The stack's servers get a second instance each (`servers.sh start command-server-2 ...`, or the
ones `HL_REPLICAS=2 stack.sh up` started) and a gateway of this test lists both of every pair
as upstreams (the stack's own gateway lists what `stack.sh` started). Through that gateway:

- hl-loadgen (small: registrations, friendships, rooms, messages, read receipts, counselling)
  retries what the gateway answers 503 + Retry-After (same Idempotency-Key) and verifies the
  run's read models against PostgreSQL at the end: 0 errors, 0 mismatches, and no answer that
  is neither the expected one nor 503 + Retry-After (nginx passes a request to the other server
  only when the first could not be reached or, for reads, failed: a write in flight on a killed
  server is answered 503 and retried by the client with its Idempotency-Key);
- a prober writes in a loop (a profile bio, a message to a room) and reads each write back with
  its consistency token: the read answers the written value or 503 + Retry-After (the wait ran
  out while the group rebalanced), never an older value;
- an SSE client on the stream listener that is killed resumes through the gateway (so on the
  other listener) with its Last-Event-ID and receives every message of the room exactly once,
  in order.

In turn, each after the writes went on since the previous kill: the stream listener, the
command server (the one holding the outbox relay's advisory lock: the other takes the relay
over), the query server and the projector (the other member of the group takes its partitions
after the session timeout) of the stack are killed with SIGKILL. The test restarts them at the
end (the stack's instances) and stops the second instances it started."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

from conftest import ROOT, eventually, healthy, http, psql, register, free_port
from stream_client import SSE

SERVERS = os.path.join(ROOT, "deploy", "local", "servers.sh")
GATEWAY_SH = os.path.join(ROOT, "deploy", "local", "gateway.sh")
LOADGEN = os.environ.get("HL_LOADGEN") or os.path.join(
    os.environ.get("HL_BUILD_DIR", ""), "bench", "hl-loadgen")
KINDS = ["command-server", "query-server", "projector", "stream-listener"]
TAG = "fo" + uuid.uuid4().hex[:12]


def servers(*args):
    return subprocess.run(["bash", SERVERS, *args], capture_output=True, text=True, timeout=240)


def port_of(name):
    r = servers("port", name)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip())


def pid_of(name):
    with open(os.path.join(os.environ["HL_RUN_DIR"], f"{name}.pid")) as f:
        return int(f.read().strip())


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False



def running(name):
    try:
        return alive(pid_of(name))
    except (OSError, ValueError):
        return False


def retryable(r):
    return r.status == 503 and r.headers.get("Retry-After")


class Client:
    """Calls through one gateway: a 503 + Retry-After is retried (a write with its
    Idempotency-Key) for up to 120 s; any other non-2xx answer, or a transport error, is
    recorded as a failure (the gateway itself is never killed)."""

    def __init__(self, base, token=None):
        self.base, self.token = base, token
        self.failures, self.retries = [], 0

    def call(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if method != "GET":
            h["Idempotency-Key"] = uuid.uuid4().hex
        deadline = time.monotonic() + 120
        while True:
            try:
                r = http(method, f"{self.base}{path}", body, h, timeout=30)
            except OSError as e:
                self.failures.append((method, path, "transport", repr(e)))
                return None
            if not retryable(r):
                if r.status >= 300:
                    self.failures.append((method, path, r.status, r.body[:300]))
                    return None
                return r
            self.retries += 1
            if time.monotonic() > deadline:
                self.failures.append((method, path, "retries ran out", r.body[:300]))
                return None
            time.sleep(min(float(r.headers["Retry-After"]), 1.0))


def user(base, name):
    r, email, password = register(name)
    assert r.status == 201, r.body
    uid = r.json()["user_id"]
    s = http("POST", f"{base}/v1/sessions", {"email": email, "password": password})
    assert s.status == 201, s.body
    return uid, Client(base, s.json()["token"])


class Prober:
    """Writes in a loop and reads each write back with its consistency token; records stale
    reads. Also sends the room messages the SSE client must receive (their seqs in .sent)."""

    def __init__(self, base, uid, me, friend, room):
        self.base, self.uid, self.me, self.friend, self.room = base, uid, me, friend, room
        self.cycles, self.stale, self.sent = 0, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(300)
        assert not self._thread.is_alive(), "the prober did not stop"

    def _loop(self):
        n = 0
        while not self._stop.is_set():
            n += 1
            bio = f"probe {n}"
            w = self.me.call("PATCH", "/v1/users/me", {"bio": bio})
            if w is None:
                continue
            token = w.headers["X-Consistency-Token"]
            r = self.me.call("GET", f"/v1/users/{self.uid}", None,
                             {"X-Consistency-Token": token, "X-Consistency-Wait-Ms": "10000"})
            if r is not None and r.json().get("bio") != bio:
                self.stale.append((bio, r.json().get("bio")))
            m = self.friend.call("POST", f"/v1/chat-rooms/{self.room}/messages",
                                 {"body": f"m{n}", "client_message_id": f"{TAG}-{n}"})
            if m is not None:
                self.sent.append(m.json()["seq"])
            self.cycles += 1


class Reader:
    """An SSE client of the room: first on the listener at port, then, after that listener
    dies, through the gateway with its Last-Event-ID. .seqs: message seqs in arrival order."""

    def __init__(self, port, gateway_port, room, token):
        self.port, self.gateway_port, self.room, self.token = port, gateway_port, room, token
        self.seqs, self.last_id, self.reconnects, self.errors = [], None, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.stream = self._open(port)

    def _open(self, port):
        h = {"Authorization": f"Bearer {self.token}"}
        if self.last_id:
            h["Last-Event-ID"] = self.last_id
        s = SSE(port, f"/v1/chat-rooms/{self.room}/messages/stream", h, timeout=15)
        assert s.status == 200, (s.status, s.body)
        return s

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        try:  # wakes the reader blocked in next_event
            self.stream.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(60)
        self.stream.close()

    def _loop(self):
        # one long read timeout: a socket that timed out once cannot be read again (Python's
        # SocketIO), and the listener sends a heartbeat every 15 s anyway
        while not self._stop.is_set():
            try:
                ev, why = self.stream.next_event(timeout=60), "closed"
            except (OSError, ValueError, AttributeError) as e:
                ev, why = None, repr(e)
            if self._stop.is_set():
                return
            if ev is None:  # the listener went away: resume on the other one
                self.stream.close()
                self.reconnects += 1
                deadline = time.monotonic() + 60
                while not self._stop.is_set():
                    try:
                        self.stream = self._open(self.gateway_port)
                        break
                    except (OSError, AssertionError) as e:
                        if time.monotonic() > deadline:
                            self.errors.append(f"no resume after {why}: {e!r}")
                            return
                        time.sleep(0.2)
                continue
            if ev.get("event") == "message":
                self.seqs.append(ev["data"]["seq"])
            if ev.get("id"):
                self.last_id = ev["id"]


def events_count():
    return int(psql("SELECT count(*) FROM events")[0])


def test_kill_9_one_of_each_under_load(tmp_path):
    started = []
    for kind in KINDS:
        if not running(f"{kind}-2"):
            r = servers("start", f"{kind}-2")
            assert r.returncode == 0, r.stdout + r.stderr
            started.append(f"{kind}-2")
    gw_port = free_port()
    lists = {k: f"127.0.0.1:{port_of(k)},127.0.0.1:{port_of(k + '-2')}"
             for k in ("command-server", "query-server", "stream-listener")}
    gw_env = {**os.environ, "HL_GATEWAY_NAME": "gateway-failover", "HL_GATEWAY_PORT": str(gw_port),
              "HL_GATEWAY_COMMAND_UPSTREAMS": lists["command-server"],
              "HL_GATEWAY_QUERY_UPSTREAMS": lists["query-server"],
              "HL_GATEWAY_STREAM_UPSTREAMS": lists["stream-listener"]}
    gw = subprocess.run(["bash", GATEWAY_SH, "start"], env=gw_env, capture_output=True, text=True)
    assert gw.returncode == 0, gw.stdout + gw.stderr
    base = f"http://127.0.0.1:{gw_port}"
    killed, out, prober, reader = [], {}, None, None
    try:
        eventually(lambda: http("GET", f"{base}/readyz", timeout=5).status == 200, 90,
                   "the test's gateway ready (every upstream ready)")
        # the SSE client's room: two friends, b writes, a reads the stream
        a, ca = user(base, "Failover A")
        b, cb = user(base, "Failover B")
        req = cb.call("POST", "/v1/friend-requests", {"to_user_id": a}).json()["request_id"]
        assert ca.call("POST", f"/v1/friend-requests/{req}/accept") is not None
        room = ca.call("POST", "/v1/chat-rooms", {"member_ids": [b]}).json()["room_id"]
        eventually(lambda: http("GET", f"{base}/v1/chat-rooms/{room}/messages", None,
                                {"Authorization": f"Bearer {ca.token}"}).status == 200, 60,
                   "the room in the read models")
        listener = "stream-listener"
        reader = Reader(port_of(listener), gw_port, room, ca.token)
        # subscribed: a message sent now arrives (live, or from the read model)
        first = cb.call("POST", f"/v1/chat-rooms/{room}/messages",
                        {"body": "first", "client_message_id": f"{TAG}-0"}).json()["seq"]
        ev = reader.stream.next_event(timeout=30)
        assert ev and ev["event"] == "message" and ev["data"]["seq"] == first, ev
        reader.last_id = ev["id"]
        reader.start()
        prober = Prober(base, a, ca, cb, room)
        prober.start()

        summary = tmp_path / "summary.json"

        def workload():
            out["r"] = subprocess.run(
                [LOADGEN, "--no-progress", "--users=30", "--messages=600", "--seed=61",
                 "--clients=2", f"--command-url={base}", f"--query-url={base}",
                 f"--projector-url=http://127.0.0.1:{port_of('projector-2')}",
                 "--retry-for=180", "--verify-scope=run", f"--run-tag={TAG}",
                 "--verify-timeout=300", f"--summary-json={summary}"],
                capture_output=True, text=True, timeout=1200)

        t = threading.Thread(target=workload, daemon=True)
        t.start()
        # kill -9 one of each in turn, each once writes went on after the previous kill
        for kind in ("stream-listener", "command-server", "query-server", "projector"):
            cycles, events = prober.cycles, events_count()
            eventually(lambda: prober.cycles >= cycles + 5 and events_count() >= events + 50,
                       180, f"writes and their reads go on before killing {kind}")
            pid = pid_of(kind)
            os.kill(pid, signal.SIGKILL)
            eventually(lambda: not alive(pid), 30, f"{kind} gone")
            killed.append(kind)
        cycles, events = prober.cycles, events_count()
        eventually(lambda: prober.cycles >= cycles + 5 and events_count() >= events + 50, 180,
                   "writes and their reads go on with one of each")
        t.join(1200)
        assert not t.is_alive(), "hl-loadgen did not finish"
        prober.stop()
        # the run's read models once everything settled after the last kill
        final = subprocess.run(
            [LOADGEN, "--no-progress", "--verify-only", "--verify-scope=run", f"--run-tag={TAG}",
             f"--projector-url=http://127.0.0.1:{port_of('projector-2')}",
             "--verify-timeout=300"], capture_output=True, text=True, timeout=600)
        assert final.returncode == 0 and "verification: 0 mismatches" in final.stdout, \
            (final.stdout[-4000:], final.stderr[-2000:])
        # every message the prober sent reaches the resumed stream, once each, in order
        eventually(lambda: prober.sent and reader.seqs[-1:] == prober.sent[-1:], 60,
                   "the last message on the resumed stream")
        reader.stop()
        res = out["r"]
        s = json.loads(summary.read_text())
        print(f"killed {killed}; prober: {prober.cycles} write+read cycles, {len(prober.sent)} "
              f"messages, {ca.retries + cb.retries} retried 503s; stream: {len(reader.seqs)} "
              f"messages, {reader.reconnects} resume(s); hl-loadgen answers {s['answers']}")
        assert s["errors"] == 0 and s["mismatches"] == 0, (s, res.stdout[-4000:])
        assert res.returncode == 0, (res.stdout[-4000:], res.stderr[-3000:])
        assert "verification: 0 mismatches" in res.stdout
        wrong = {k: v for k, v in s["answers"].items()
                 if k not in ("expected", "503_retry_after") and v}
        assert not wrong, s["answers"]  # only the expected answer, or 503 + Retry-After
        assert not ca.failures and not cb.failures, (ca.failures[:5], cb.failures[:5])
        assert prober.stale == [], prober.stale[:5]  # read-your-writes held throughout
        assert prober.cycles >= 20, prober.cycles
        assert reader.errors == [] and reader.reconnects >= 1, (reader.errors, reader.reconnects)
        assert reader.seqs == sorted(set(reader.seqs)), "a duplicate or a message out of order"
        assert reader.seqs == prober.sent, (len(reader.seqs), len(prober.sent),
                                            sorted(set(prober.sent) - set(reader.seqs))[:10])
    finally:
        if prober and prober._thread.is_alive():
            prober.stop()
        if reader:
            reader.stop()
        subprocess.run(["bash", GATEWAY_SH, "stop"], env=gw_env, capture_output=True)
        if killed:  # the stack's instances again
            r = servers("start", *KINDS)
            assert r.returncode == 0, r.stdout + r.stderr
        for name in started:
            servers("stop", name)
        for kind in KINDS:
            assert healthy(f"http://127.0.0.1:{port_of(kind)}"), kind
