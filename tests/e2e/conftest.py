"""Shared helpers for the end-to-end tests: HTTP calls, bounded polling, stack coordinates.

Every test here runs against the real servers started by deploy/local/stack.sh (PostgreSQL,
Kafka, Debezium, the schema registry, FerretDB and the three hearlers servers). Nothing is mocked.
"""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Clients reach both APIs through the gateway (SPEC §7): COMMAND and QUERY are its one URL.
# The servers' own (internal) ports are for tests that need a server directly, on purpose.
GATEWAY = f"http://127.0.0.1:{os.environ['HL_GATEWAY_PORT']}"
COMMAND = GATEWAY
QUERY = GATEWAY
COMMAND_DIRECT = f"http://127.0.0.1:{os.environ['HL_COMMAND_PORT']}"
QUERY_DIRECT = f"http://127.0.0.1:{os.environ['HL_QUERY_PORT']}"
PROJECTOR = f"http://127.0.0.1:{os.environ['HL_PROJECTOR_PORT']}"
KAFKA = f"127.0.0.1:{os.environ['HL_KAFKA_PORT']}"
REGISTRY = os.environ["HL_REGISTRY_URL"]
MONGO_URI = f"mongodb://127.0.0.1:{os.environ['HL_MONGO_PORT']}/"
MONGO_DB = os.environ["HL_MONGO_DB"]
PG = dict(host="127.0.0.1", port=os.environ["HL_PG_PORT"], user=os.environ["HL_PG_USER"],
          db=os.environ["HL_PG_DB"])


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


# Every password and bearer token the e2e tests send or receive through http() is appended to
# this file of the stack (one a line); e2e_secret_scan, the last e2e test, looks for each of
# them in the stack's logs, Kafka topics and read models (none may be there).
SECRETS_FILE = os.path.join(os.environ.get("HL_RUN_DIR", "/tmp"), "e2e-secrets.txt")


_recorded = set()


def record_secret(value):
    """Append value (a password or bearer token, >= 8 characters) to SECRETS_FILE (once per
    process)."""
    if isinstance(value, str) and len(value) >= 8 and "\n" not in value and \
            value not in _recorded:
        _recorded.add(value)
        with open(SECRETS_FILE, "a") as f:
            f.write(value + "\n")


def _record_exchange(body, headers, resp_body):
    if isinstance(body, dict):
        for k in ("password", "new_password"):
            record_secret(body.get(k))
    auth = (headers or {}).get("Authorization", "")
    if auth.startswith("Bearer "):
        record_secret(auth[7:])
    if resp_body[:1] == b"{" and b'"token"' in resp_body:
        try:
            record_secret(json.loads(resp_body).get("token"))
        except ValueError:
            pass


def http(method, url, body=None, headers=None, raw=None, timeout=30):
    """One HTTP request; returns Response for any status (no exception on 4xx/5xx). Passwords
    and bearer tokens it carries are recorded (record_secret)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            resp = Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        resp = Response(e.code, e.headers, e.read())
    _record_exchange(body, hdrs, resp.body)
    return resp


def metric_sum(base, name, labels=""):
    """Sum of the samples of name{labels...} on a server's /metrics (0 when absent); labels: a
    substring the sample's line must hold, e.g. 'collection="inbox"'."""
    text = http("GET", f"{base}/metrics").body.decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def healthy(base_url):
    """Whether the server at base_url answers GET /healthz with 200 (False while it is down)."""
    try:
        return http("GET", f"{base_url}/healthz", timeout=2).status == 200
    except OSError:
        return False


def all_pages(fetch, path, limit, max_pages=100):
    """Follow next_cursor from the first page of path (limit items a page) to the last one;
    fetch(url) returns a page's JSON body. Returns (items of every page, number of pages)."""
    sep = "&" if "?" in path else "?"
    items, cursor, pages = [], None, 0
    while True:
        body = fetch(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < max_pages


def eventually(check, timeout_s=30.0, what="condition"):
    """Poll check() until it returns a truthy value or timeout_s passes; return that value."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


def psql(sql):
    """Run SQL against the command-side PostgreSQL; returns stdout rows (unaligned, '|' sep)."""
    out = subprocess.run(
        ["psql", "-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"], "-d", PG["db"],
         "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
        check=True, capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line]


def unique_email(tag="user"):
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def register(display_name, email=None, password=None):
    email = email or unique_email()
    password = password or f"pw-{uuid.uuid4().hex}"
    r = http("POST", f"{COMMAND}/v1/users",
             {"email": email, "password": password, "display_name": display_name})
    return r, email, password


def login(email, password):
    """POST /v1/sessions; returns the Response."""
    return http("POST", f"{COMMAND}/v1/sessions", {"email": email, "password": password})


def new_user(display_name="User"):
    """Register and log in a fresh user; returns (user_id, auth headers dict, email, password)."""
    r, email, password = register(display_name)
    assert r.status == 201, r.body
    s = login(email, password)
    assert s.status == 201, s.body
    return r.json()["user_id"], {"Authorization": f"Bearer {s.json()['token']}"}, email, password


def befriend(a_headers, b_id, b_headers):
    """a sends b a friend request and b accepts it; returns the accept Response."""
    r = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b_id}, a_headers)
    assert r.status == 201, r.body
    acc = http("POST", f"{COMMAND}/v1/friend-requests/{r.json()['request_id']}/accept", None,
               b_headers)
    assert acc.status == 200, acc.body
    return acc


# Read-your-writes helpers shared by the query tests (SPEC §3).
CONSISTENCY_WAIT = {"X-Consistency-Wait-Ms": "10000"}


def token_of(r):
    """The consistency token of a write's Response (header X-Consistency-Token)."""
    return r.headers["X-Consistency-Token"]


def read(path, headers, token=None, retries=2):
    """GET QUERY+path (with the write's consistency token when given, waiting up to 10 s) and
    return the JSON body, asserting 200. A 503 (the wait ran out) is retried as SPEC §3 tells
    clients to, at most `retries` times: on a fresh stack the projector notices a topic's first
    event only at its next metadata refresh (10 s)."""
    extra = {**CONSISTENCY_WAIT, "X-Consistency-Token": token} if token else {}
    for _ in range(retries + 1):
        r = http("GET", f"{QUERY}{path}", headers={**headers, **extra})
        if r.status != 503:
            break
    assert r.status == 200, (path, r.status, r.body)
    return r.json()


def new_visible_user(display_name):
    """Register and log in a fresh user whose profile (and user_names key, written in the same
    plan) the query side already shows: read back with the registration's token. Returns
    (user_id, auth headers dict, the registration's consistency token)."""
    r, email, password = register(display_name)
    assert r.status == 201, r.body
    uid, token = r.json()["user_id"], token_of(r)
    assert read(f"/v1/users/{uid}", {}, token)["display_name"] == display_name
    s = login(email, password)
    assert s.status == 201, s.body
    return uid, {"Authorization": f"Bearer {s.json()['token']}"}, token


class ReadModels:
    """The read-model database seen through read_model_aliases (as the query server sees it):
    rm.inbox is the physical collection that serves the logical read model `inbox` now."""

    def __init__(self):
        import pymongo
        self._db = pymongo.MongoClient(MONGO_URI)[MONGO_DB]

    def __getattr__(self, name):
        return self[name]

    def __getitem__(self, name):
        if name == "read_model_aliases" or name.startswith("_"):
            return self._db[name]
        alias = self._db.read_model_aliases.find_one({"_id": name})
        return self._db[alias["collection"] if alias else name]

    def drop_collection(self, name):
        self._db.drop_collection(name)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick; it may be taken
    again before the caller binds it, which a test then sees as a failed start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
