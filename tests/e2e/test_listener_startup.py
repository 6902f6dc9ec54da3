"""The stream listener's start-up against a schema registry that is not ready yet (issue 17).

The listener registers the connection facts' writer schema (schemas/StreamConnection.avsc) at
start-up. A registry that is still starting, answers 5xx or answers slower than the client's
5 s timeout used to make it exit ("start-up failed"), so a stack whose registry came up late
lost its streams until someone restarted the listener. Now the registration is retried every
second for up to HL_REGISTRY_WAIT_S, and only a 4xx (a schema the registry refuses) fails at
once.

A second stream listener runs here on its own port against the stack's real MongoDB, Kafka and
registry; between it and the registry sits a small HTTP relay of this test that fails the first
requests (503, then one answer slower than the timeout) and relays everything after to the real
registry, or answers one 422.
"""
import http.server
import os
import select
import socket
import subprocess
import threading
import urllib.error
import urllib.request

from conftest import KAFKA, MONGO_DB, MONGO_URI, REGISTRY, ROOT, eventually, free_port

BIN = os.path.join(os.environ.get("HL_BUILD_DIR", os.path.join(ROOT, "build")), "query-server",
                   "stream-listener")



class Relay(http.server.ThreadingHTTPServer):
    """Answers according to plan (a list of "503", "slow", "422"; one entry per request, in
    order), then relays each request to the real registry. Keeps what it saw."""

    daemon_threads = True

    def __init__(self, plan):
        self.plan = list(plan)
        self.seen = []
        self.gave_up = 0  # "slow" answers the client closed its connection on first
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), RelayHandler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}{REGISTRY[REGISTRY.index('/', 8):]}"


def closed(conn):
    """Whether the peer closed conn (readable with nothing to read, or reset)."""
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class RelayHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            step = self.server.plan.pop(0) if self.server.plan else "relay"
            self.server.seen.append((self.command, self.path, step))
        if step == "503":
            return self._answer(503, b'{"error_code":50301,"message":"starting"}')
        if step == "slow":
            # answer only once the listener's registry client gave up (its 5 s timeout closes
            # the connection), 10 s at most
            ready, _, _ = select.select([self.connection], [], [], 10)
            with self.server.lock:
                self.server.gave_up += bool(ready) and closed(self.connection)
            return self._answer(503, b'{"error_code":50302,"message":"late"}')
        if step == "422":
            return self._answer(422, b'{"error_code":42201,"message":"invalid schema"}')
        origin = REGISTRY[:REGISTRY.index("/", 8)]
        req = urllib.request.Request(origin + self.path, data=body or None, method=self.command,
                                     headers={"Content-Type": self.headers.get(
                                         "Content-Type", "application/json")})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                self._answer(r.status, r.read())
        except urllib.error.HTTPError as e:
            self._answer(e.code, e.read())

    def _answer(self, status, body):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the listener gave up on a slow answer

    do_GET = do_PUT = do_POST = _any


def start_listener(relay, tmp_path, wait_s=60):
    port = free_port()
    log = open(tmp_path / "stream-listener.log", "w+")
    env = dict(os.environ, HL_STREAM_LISTEN=f"127.0.0.1:{port}", HL_KAFKA_BROKERS=KAFKA,
               HL_SCHEMA_REGISTRY_URL=relay.url, HL_MONGO_URI=MONGO_URI, HL_MONGO_DB=MONGO_DB,
               HL_REGISTRY_WAIT_S=str(wait_s), HL_LOG_JSON="false")
    proc = subprocess.Popen([BIN], env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, port, log


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def serve(plan):
    relay = Relay(plan)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    return relay


def stop(proc, log):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.seek(0)
    return log.read()


def test_a_late_registry_delays_the_listener_instead_of_stopping_it(tmp_path):
    relay = serve(["503", "503", "slow", "503"])
    proc, port, log = start_listener(relay, tmp_path)
    try:
        eventually(lambda: proc.poll() is not None or ready(port), timeout_s=90,
                   what="the listener ready (or exited)")
        assert proc.poll() is None, "the listener exited: " + stop(proc, log)[-3000:]
        assert ready(port)
        # every failed answer was retried, and the schema was registered through the relay
        steps = [step for _, _, step in relay.seen]
        assert steps[:4] == ["503", "503", "slow", "503"], relay.seen
        assert relay.gave_up == 1, "the listener waited for the slow answer"
        assert any(m == "POST" and "/versions" in p and s == "relay" for m, p, s in relay.seen)
    finally:
        out = stop(proc, log)
        relay.shutdown()
    assert out.count("schema registry not ready") >= 4, out[-3000:]
    assert proc.returncode == 0, out[-3000:]


def test_a_refused_schema_fails_start_up_at_once(tmp_path):
    # the compatibility PUT is relayed; the register POST answers 422: no retry, exit non-zero
    relay = serve(["relay", "422"])
    proc, port, log = start_listener(relay, tmp_path)
    try:
        proc.wait(timeout=60)
    finally:
        out = stop(proc, log)
        relay.shutdown()
    assert proc.returncode != 0
    assert "start-up failed" in out and "HTTP 422" in out, out[-3000:]
    assert len(relay.seen) == 2, relay.seen
    assert not ready(port)
