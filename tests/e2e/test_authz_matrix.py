"""The authorization matrix (issue 17): every route of the command API, the query API and the
streams (SSE routes and /v1/ws channels), through the gateway, x {no token, tampered, expired,
revoked, signed with another key, another user, non-member, blocked user, operator where roles
exist}. Each answer is the one the SPEC gives (401/403/404 problem+json), and no body answered
to one user carries another user's private data (e-mail, session, notifications, bookings,
jobs, rooms).

The route list is read from the servers' own route tables (command-server/src/main.c,
query-server/src/main.c, query-server/src/stream_proto.c) and checked against the command API's
OpenAPI document: a new route without a row in ROWS below fails test_every_route_has_a_row.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid

import pytest

from conftest import (COMMAND, COMMAND_DIRECT, QUERY, ROOT, befriend, eventually, http, login,
                      new_user)
from counselling_helpers import book, future, job_done, new_counsellor, new_operator, publish
from stream_client import SSE, WS

PORT = int(os.environ["HL_GATEWAY_PORT"])
SECRET = os.environ.get("HL_TOKEN_SECRET", "hearlers-dev-secret-change-me")
PROBLEM = "application/problem+json"


# ---- the route tables -------------------------------------------------------------------------

def _read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def command_routes():
    return set(re.findall(r'\{"(POST|PUT|PATCH|DELETE|GET)", "(/v1/[^"]*)", cs_handle_\w+\}',
                          _read("command-server/src/main.c")))


def query_routes():
    return set(re.findall(r'\{"(GET)", "(/v1/[^"]*)", qs_handle_\w+\}',
                          _read("query-server/src/main.c")))


def stream_routes():
    src = _read("query-server/src/stream_proto.c")
    body = src[src.index("st_route_t st_route_match"):src.index("st_route_t st_channel_route")]
    exact = re.findall(r'!strcmp\(path, "(/v1/[^"]*)"\)', body)
    shaped = [f"{p}{{id}}{s}" for p, s in re.findall(r'shape\(path, "([^"]*)", "([^"]*)", id\)',
                                                      body)]
    chan = src[src.index("st_route_t st_channel_route"):]
    chan = chan[:chan.index("\n}\n")]
    channels = re.findall(r'!strcmp\(channel, "([^"]*)"\)', chan)
    channels += [f"{p}{{id}}" for p in re.findall(r'!strncmp\(channel, "([^"]*)", \d+\)', chan)]
    return ({("GET", p) for p in exact + shaped if p != "/v1/ws"},
            {("WS", c) for c in channels} | ({("GET", "/v1/ws")} if "/v1/ws" in exact else set()))


def openapi_routes(name="command-api.yaml", token_optional=False):
    """(METHOD, path) of the /v1 operations of an OpenAPI document of schemas/openapi; with
    token_optional, only those whose security allows no token ({} among the alternatives)."""
    import yaml
    with open(os.path.join(ROOT, "schemas", "openapi", name)) as f:
        doc = yaml.safe_load(f)
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m, op in ops.items()
            if m in ("get", "post", "put", "patch", "delete") and p.startswith("/v1/")
            and (not token_optional or {} in (op.get("security") or [{"bearer": []}]))}


def same_shape(path):
    return re.sub(r"\{[a-z_]+\}", "{id}", path)


# ---- tokens -----------------------------------------------------------------------------------

def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(payload, secret=SECRET, purpose="session"):
    """A token as common/src/token.c signs it (kid.payload.mac), with any payload and secret."""
    key = hashlib.blake2b(purpose.encode() + b"\0" + secret.encode(), digest_size=32).digest()
    kid = _b64(hashlib.blake2b(b"kid", digest_size=6, key=key).digest())
    signed = f"{kid}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
    return f"{signed}.{_b64(hmac.new(key, signed.encode(), hashlib.sha256).digest())}"


def claims(headers):
    tok = headers["Authorization"].split()[1]
    mid = tok.split(".")[-2]
    return json.loads(base64.urlsafe_b64decode(mid + "=" * (-len(mid) % 4)))


def tampered(headers):
    tok = headers["Authorization"].split()[1]
    i = len(tok) - 5
    return {"Authorization": f"Bearer {tok[:i]}{'A' if tok[i] != 'A' else 'B'}{tok[i + 1:]}"}


# ---- the world the matrix runs in ---------------------------------------------------------------

class World:
    """A: the owner of everything private; B: A's friend (direct room AB); C: a stranger (no
    relation to anyone); D: was A's friend with a direct room AD, now blocked by A; E: sent A a
    friend request (pending); K: a verified counsellor with open slots; A booked one of them (a
    booking and its job); O: an operator. Every identity's token and private ids are kept."""

    def __init__(self):
        self.users = {}
        for name in "ABCDE":
            uid, h, email, pw = new_user(f"Mx{name}")
            self.users[name] = {"id": uid, "h": h, "email": email, "password": pw,
                                "sid": claims(h)["sid"]}
        A, B, D, E = (self.users[n] for n in "ABDE")
        befriend(A["h"], B["id"], B["h"])
        befriend(A["h"], D["id"], D["h"])
        self.room_ab = self._room(A, B)
        self.room_ad = self._room(A, D)
        r = http("POST", f"{COMMAND}/v1/blocks", {"user_id": D["id"]}, A["h"])
        assert r.status == 201, r.body
        r = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": A["id"]}, E["h"])
        assert r.status == 201, r.body
        self.request_ea = r.json()["request_id"]
        m = http("POST", f"{COMMAND}/v1/chat-rooms/{self.room_ab}/messages",
                 {"body": "private words for A", "client_message_id": str(uuid.uuid4())}, B["h"])
        assert m.status == 201, m.body
        oid, oh, oemail = new_operator()
        self.users["O"] = {"id": oid, "h": oh, "email": oemail, "sid": claims(oh)["sid"]}
        kid_, kh = new_counsellor(oh, name="MxK")
        self.users["K"] = {"id": kid_, "h": kh, "sid": claims(kh)["sid"]}
        # an unverified counsellor for the operator row
        uid, uh = new_counsellor(None, name="MxU")
        self.unverified = uid
        self.slots = publish(kh, future(days=3), future(days=4), future(days=5))
        b = book(A["h"], self.slots[0])
        assert b.status == 202, b.body
        self.booking, self.job = b.json()["booking_id"], b.json()["job_id"]
        job_done(A["h"], self.job)
        # A's notifications (request from E, message from B) are in the read model
        self.notifications = eventually(lambda: [n["id"] for n in self._notes(A)]
                                        if len(self._notes(A)) >= 2 else None, 30,
                                        "A's notifications")
        # the counsellor's page, its slots and the booking are projected (the public reads'
        # rows expect 200; the counselling topics can lag the others on a fresh stack)
        kpath = f"{QUERY}/v1/counsellors/{kid_}"
        eventually(lambda: http("GET", kpath, None, None).status == 200 or None, 60,
                   "counsellor K on the query side")
        eventually(lambda: (http("GET", f"{kpath}/slots", None, None).json().get("items")
                            or None), 60, "K's slots on the query side")
        eventually(lambda: http("GET", f"{QUERY}/v1/bookings/{self.booking}", None,
                                A["h"]).status == 200 or None, 60, "A's booking on the query side")
        # the refused identities are C's (so that request bodies naming A stay valid input):
        # revoked: a second session of C, logged out
        C = self.users["C"]
        s = login(C["email"], C["password"])
        self.revoked = {"Authorization": f"Bearer {s.json()['token']}"}
        assert http("DELETE", f"{COMMAND}/v1/sessions/current", None, self.revoked).status == 204
        # the query side refuses a session once its revocation is projected (a session row
        # not projected as revoked yet is accepted, SPEC §3): wait for that before the rows
        eventually(lambda: http("GET", f"{QUERY}/v1/bookings", None,
                                self.revoked).status == 401 or None, 60,
                   "C's revoked session refused on the query side")
        c = claims(C["h"])
        self.expired = {"Authorization": "Bearer " + forge(
            {"sid": c["sid"], "uid": c["uid"], "exp": int(time.time() * 1000) - 60_000})}
        self.other_key = {"Authorization": "Bearer " + forge(c, secret=f"not-{SECRET}")}
        # what must never reach anyone but A (and the parties named in the SPEC)
        self.private_of_a = {A["email"], A["password"], A["sid"], A["h"]["Authorization"][7:],
                             self.booking, self.job, *self.notifications}

    def _room(self, x, y):
        r = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [y["id"]]}, x["h"])
        assert r.status in (200, 201), r.body
        return r.json()["room_id"]

    @staticmethod
    def _notes(u):
        r = http("GET", f"{QUERY}/v1/notifications?limit=50", None, u["h"])
        return r.json()["items"] if r.status == 200 else []

    def h(self, who):
        return self.users[who]["h"]


@pytest.fixture(scope="module")
def world():
    return World()


# ---- rows: one per route ----------------------------------------------------------------------
# request(w) -> (path, body); foreign: principal -> (expected status, problem reason or None).
# Principals: C stranger / non-member, D blocked by A, E sender of A's request, B A's friend,
# K the counsellor, O operator. "public": answers without a token (no 401 rows).

def _slots_body(_):
    return {"slots": [{"starts_at": future(days=20).strftime("%Y-%m-%dT%H:%M:%SZ")}]}


ROWS = {
    # command API
    ("POST", "/v1/users"): dict(public=True, request=lambda w: ("/v1/users", {
        "email": f"x-{uuid.uuid4().hex[:10]}@example.com", "password": f"pw-{uuid.uuid4().hex}",
        "display_name": "Fresh"})),
    ("POST", "/v1/sessions"): dict(public=True, request=lambda w: ("/v1/sessions", {
        "email": w.users["A"]["email"], "password": w.users["C"]["password"]}),
        anyone=(401, None)),  # A's address with another user's password
    ("DELETE", "/v1/sessions/current"): dict(request=lambda w: ("/v1/sessions/current", None)),
    ("PATCH", "/v1/users/me"): dict(request=lambda w: ("/v1/users/me", {"bio": "mine"})),
    ("PUT", "/v1/users/me/presence"): dict(request=lambda w: ("/v1/users/me/presence",
                                                                {"status": "away"})),
    # the caller's own avatar only (issue 18); no path names another user
    # every kind, revoked included, is 401 before the body's Content-Type (415) is looked at
    ("PUT", "/v1/users/me/avatar"): dict(request=lambda w: ("/v1/users/me/avatar", None)),
    ("DELETE", "/v1/users/me/avatar"): dict(request=lambda w: ("/v1/users/me/avatar", None)),
    ("POST", "/v1/friend-requests"): dict(
        request=lambda w: ("/v1/friend-requests", {"to_user_id": w.users["A"]["id"]}),
        foreign={"D": (403, None)}),
    ("POST", "/v1/friend-requests/{id}/accept"): dict(
        request=lambda w: (f"/v1/friend-requests/{w.request_ea}/accept", None),
        foreign={"C": (403, None), "E": (403, None)}),
    ("POST", "/v1/friend-requests/{id}/reject"): dict(
        request=lambda w: (f"/v1/friend-requests/{w.request_ea}/reject", None),
        foreign={"C": (403, None), "E": (403, None)}),
    ("DELETE", "/v1/friends/{user_id}"): dict(
        request=lambda w: (f"/v1/friends/{w.users['A']['id']}", None),
        foreign={"C": (404, None)}),
    ("POST", "/v1/blocks"): dict(request=lambda w: ("/v1/blocks", {"user_id": w.users["E"]["id"]})),
    ("DELETE", "/v1/blocks/{user_id}"): dict(
        request=lambda w: (f"/v1/blocks/{w.users['C']['id']}", None),
        foreign={"D": (404, None)}),  # D cannot lift A's block: it has none of its own
    ("POST", "/v1/chat-rooms"): dict(
        request=lambda w: ("/v1/chat-rooms", {"member_ids": [w.users["A"]["id"]]}),
        foreign={"C": (403, None), "D": (403, None)}),
    ("POST", "/v1/chat-rooms/{room_id}/messages"): dict(
        request=lambda w: (f"/v1/chat-rooms/{w.room_ab}/messages",
                           {"body": "let me in", "client_message_id": str(uuid.uuid4())}),
        foreign={"C": (403, None)},
        blocked=lambda w: (f"/v1/chat-rooms/{w.room_ad}/messages",
                           {"body": "blocked", "client_message_id": str(uuid.uuid4())})),
    ("POST", "/v1/chat-rooms/{room_id}/read"): dict(
        request=lambda w: (f"/v1/chat-rooms/{w.room_ab}/read", {"up_to_seq": 1}),
        foreign={"C": (403, None), "D": (403, None)}),
    ("POST", "/v1/notifications/read"): dict(
        request=lambda w: ("/v1/notifications/read", {"notification_ids": w.notifications})),
    ("POST", "/v1/counsellors"): dict(request=lambda w: ("/v1/counsellors", {
        "headline": "I listen", "specialties": ["anxiety"], "languages": ["en"],
        "price_minor": 5000, "currency": "EUR", "session_minutes": 50})),
    ("PATCH", "/v1/counsellors/me"): dict(
        request=lambda w: ("/v1/counsellors/me", {"headline": "Not a counsellor"}),
        foreign={"C": (404, None)}),
    ("POST", "/v1/counsellors/me/slots"): dict(
        request=lambda w: ("/v1/counsellors/me/slots", _slots_body(w)),
        foreign={"C": (404, None)}),
    ("DELETE", "/v1/counsellors/me/slots/{slot_id}"): dict(
        request=lambda w: (f"/v1/counsellors/me/slots/{w.slots[1]}", None),
        foreign={"C": (404, None), "A": (404, None)}),
    ("POST", "/v1/counsellors/{id}/verify"): dict(
        request=lambda w: (f"/v1/counsellors/{w.unverified}/verify", None),
        foreign={"C": (403, None), "K": (403, None)}, operator=200),
    ("POST", "/v1/bookings"): dict(
        request=lambda w: ("/v1/bookings", {"slot_id": w.slots[2], "payment_method": "pm_card_visa"}),
        foreign={"K": (409, "own-slot")}),
    ("POST", "/v1/bookings/{id}/cancel"): dict(
        request=lambda w: (f"/v1/bookings/{w.booking}/cancel", None),
        foreign={"C": (403, "not-a-party")}),
    ("POST", "/v1/bookings/{id}/complete"): dict(
        request=lambda w: (f"/v1/bookings/{w.booking}/complete", None),
        foreign={"C": (403, "not-a-party"), "A": (403, "not-the-counsellor")}),
    ("POST", "/v1/bookings/{id}/review"): dict(
        request=lambda w: (f"/v1/bookings/{w.booking}/review", {"rating": 5}),
        foreign={"C": (403, "not-a-party"), "K": (403, "not-the-client")}),
    # query API
    # public reads (no token needed): profiles, the counsellor directory, the daily counts
    ("GET", "/v1/users/{id}"): dict(request=lambda w: (f"/v1/users/{w.users['A']['id']}", None),
                                    shared=True, public_read=True),
    ("GET", "/v1/users"): dict(request=lambda w: ("/v1/users?q=Mx", None), shared=True),
    ("GET", "/v1/friends"): dict(request=lambda w: ("/v1/friends", None), own=True),
    ("GET", "/v1/friend-requests"): dict(request=lambda w: ("/v1/friend-requests?direction=incoming",
                                                            None), own=True),
    ("GET", "/v1/chat-rooms"): dict(request=lambda w: ("/v1/chat-rooms", None), own=True),
    ("GET", "/v1/chat-rooms/check/{user_id}"): dict(
        request=lambda w: (f"/v1/chat-rooms/check/{w.users['B']['id']}", None), own=True),
    ("GET", "/v1/chat-rooms/{room_id}/messages"): dict(
        request=lambda w: (f"/v1/chat-rooms/{w.room_ab}/messages", None),
        foreign={"C": (403, "not-a-member"), "D": (403, "not-a-member")}),
    ("GET", "/v1/notifications"): dict(request=lambda w: ("/v1/notifications", None), own=True),
    ("GET", "/v1/stats/daily"): dict(request=lambda w: ("/v1/stats/daily", None), shared=True,
                                     public_read=True),
    ("GET", "/v1/jobs/{job_id}"): dict(request=lambda w: (f"/v1/jobs/{w.job}", None),
                                       foreign={"C": (403, "not-owner"), "K": (403, "not-owner")}),
    ("GET", "/v1/counsellors"): dict(request=lambda w: ("/v1/counsellors", None), shared=True,
                                     public_read=True),
    ("GET", "/v1/counsellors/{id}"): dict(
        request=lambda w: (f"/v1/counsellors/{w.users['K']['id']}", None), shared=True,
        public_read=True),
    ("GET", "/v1/counsellors/{id}/slots"): dict(
        request=lambda w: (f"/v1/counsellors/{w.users['K']['id']}/slots", None), shared=True,
        public_read=True),
    ("GET", "/v1/bookings"): dict(request=lambda w: ("/v1/bookings", None), own=True),
    ("GET", "/v1/bookings/{id}"): dict(request=lambda w: (f"/v1/bookings/{w.booking}", None),
                                       foreign={"C": (403, "not-a-party")}),
    # streams (SSE)
    ("GET", "/v1/notifications/stream"): dict(stream=True,
                                              request=lambda w: ("/v1/notifications/stream", None)),
    ("GET", "/v1/friends/presence/stream"): dict(
        stream=True, request=lambda w: ("/v1/friends/presence/stream", None)),
    ("GET", "/v1/chat-rooms/{id}/messages/stream"): dict(
        stream=True, request=lambda w: (f"/v1/chat-rooms/{w.room_ab}/messages/stream", None),
        foreign={"C": (403, "not-a-member"), "D": (403, "not-a-member")}),
    # the job channel: its owner only, with GET /v1/jobs/{job_id}'s answers (issue 11)
    ("GET", "/v1/jobs/{id}/stream"): dict(
        stream=True, request=lambda w: (f"/v1/jobs/{w.job}/stream", None),
        foreign={"C": (403, "not-owner"), "K": (403, "not-owner")}),
    # WebSocket: the handshake, then each channel
    ("GET", "/v1/ws"): dict(ws=True, request=lambda w: ("/v1/ws", None)),
    ("WS", "notifications"): dict(channel=lambda w: "notifications"),
    ("WS", "presence"): dict(channel=lambda w: "presence"),
    ("WS", "room:{id}"): dict(channel=lambda w: f"room:{w.room_ab}",
                              foreign={"C": (403, None), "D": (403, None)}),
    ("WS", "job:{id}"): dict(channel=lambda w: f"job:{w.job}",
                             foreign={"C": (403, None), "K": (403, None)}),
}
# the owner of each row's resource (who gets a 2xx); default A
OWNER = {("POST", "/v1/friend-requests"): "C", ("DELETE", "/v1/blocks/{user_id}"): "A",
         ("POST", "/v1/counsellors/me/slots"): "K"}


# ---- calling ----------------------------------------------------------------------------------

class Answer:
    def __init__(self, status, ctype, body):
        self.status, self.ctype, self.body = status, ctype, body

    def problem(self):
        return json.loads(self.body)


def call(key, row, w, headers, path=None, body=None):
    if path is None:
        path, body = row["request"](w)
    method = key[0]
    if row.get("stream"):
        s = SSE(PORT, path, headers, timeout=10)
        s.close()
        return Answer(s.status, s.headers.get("Content-Type", ""), s.body or b"")
    if row.get("ws"):
        ws = WS(PORT, path, headers)
        rest = ws.buf
        ws.close()
        return Answer(ws.status if ws.status != 101 else 101, "", rest)
    base = COMMAND if method != "GET" else QUERY
    r = http(method, f"{base}{path}", body, headers)
    return Answer(r.status, r.headers.get("Content-Type", ""), r.body)


def ws_subscribe(headers, channel):
    ws = WS(PORT, "/v1/ws", headers)
    assert ws.status == 101
    ws.send({"op": "subscribe", "channel": channel})
    try:
        msg = ws.recv(timeout=3)
    except OSError:
        msg = None  # nothing within 3 s: subscribed, no event pending
    ws.close()
    return msg


def assert_problem(a, status, reason=None, where=""):
    assert a.status == status, f"{where}: {a.status} {a.body[:300]!r}"
    if status == 101:
        return
    assert a.ctype.startswith(PROBLEM), f"{where}: {a.ctype}"
    p = a.problem()
    assert p["status"] == status and p["type"].startswith("urn:hearlers:problem:"), (where, p)
    if reason:
        assert p["type"] == f"urn:hearlers:problem:{reason}", (where, p)


def assert_no_leak(a, w, who, path):
    """No body answered to `who` carries A's private data (ids the caller put in the path are
    echoed in problem documents' instance and are not a leak), nor any user's e-mail address or
    password, nor a session id or token other than the caller's own."""
    text = a.body.decode(errors="replace") if isinstance(a.body, bytes) else str(a.body)
    secrets = set(w.private_of_a) if who != "A" else set()
    for name, u in w.users.items():
        secrets |= {u.get("email"), u.get("password")}
        if name != who:
            secrets |= {u.get("sid"), u["h"]["Authorization"][7:]}
    for s in secrets:
        if s and s not in path:
            assert s not in text, f"{who} got {s!r} from {path}: {text[:300]}"


# ---- the tests --------------------------------------------------------------------------------

def test_every_route_has_a_row():
    cmd, qry = command_routes(), query_routes()
    sse, ws = stream_routes()
    assert len(cmd) >= 20 and len(qry) >= 10 and len(sse) >= 4 and len(ws) >= 4, (cmd, qry, sse)
    assert cmd == openapi_routes(), "command route table and OpenAPI document differ"
    documented = {(m, same_shape(p)) for m, p in openapi_routes("query-api.yaml")}
    served = {(m, same_shape(p)) for m, p in qry | sse | {r for r in ws if r[0] == "GET"}}
    assert served == documented, "query/stream route tables and query-api.yaml differ"
    # the reads the query document lets go without a token are exactly the matrix's public ones
    optional = {(m, same_shape(p)) for m, p in openapi_routes("query-api.yaml", True)}
    assert optional == {(k[0], same_shape(k[1])) for k, r in ROWS.items() if r.get("public_read")}
    # stream routes are written with {id}; the others keep their table's names
    tables = cmd | qry | sse | ws
    assert tables == set(ROWS), (f"routes without a row: {sorted(tables - set(ROWS))}; "
                                 f"rows without a route: {sorted(set(ROWS) - tables)}")


UNAUTHENTICATED = ["none", "tampered", "expired", "revoked", "other-key", "garbage"]


def bad_headers(w, kind):
    return {"none": {}, "tampered": tampered(w.h("C")), "expired": w.expired,
            "revoked": w.revoked, "other-key": w.other_key,
            "garbage": {"Authorization": "Bearer not.a.token"}}[kind]


REASONS = {"none": "missing-token", "tampered": "invalid-token", "expired": "expired-token",
           "revoked": "revoked-token", "other-key": "invalid-token", "garbage": "invalid-token"}


@pytest.mark.parametrize("key", sorted(ROWS), ids=lambda k: f"{k[0]} {k[1]}")
def test_unauthenticated(world, key):
    """Every route but register and log-in refuses a caller without a valid live session with
    401 problem+json (WS channels: the handshake itself is refused)."""
    row = ROWS[key]
    if row.get("public"):
        return
    for kind in UNAUTHENTICATED:
        if kind in row.get("unauth_skip", ()):
            continue
        h = bad_headers(world, kind)
        if key[0] == "WS" or row.get("ws"):
            def handshake():
                ws = WS(PORT, "/v1/ws", h)
                ws.close()
                return ws
            ws = handshake()
            if kind == "revoked" and ws.status == 101:
                # the listener refuses a revoked session's handshake once the log-out has
                # reached it on the change feed (stream_revoked.h): the world's log-out was
                # just made, so wait (bounded) for the projection
                ws = eventually(lambda: (lambda w: w if w.status != 101 else None)(handshake()),
                                30, "the revoked session's handshake refused")
            assert ws.status == 401, (key, kind, ws.status, ws.head, ws.buf[:300])
            p = json.loads(ws.buf)
            assert p["type"] == f"urn:hearlers:problem:{REASONS[kind]}", (key, kind, p)
            continue
        a = call(key, row, world, h)
        if row.get("public_read") and kind == "none":
            # readable without a token; a token that is sent is checked (401 below)
            assert a.status == 200, (key, kind, a.status, a.body[:300])
            assert_no_leak(a, world, "nobody", row["request"](world)[0])
            continue
        assert_problem(a, 401, REASONS[kind], f"{key} {kind}")
        assert_no_leak(a, world, "nobody", row["request"](world)[0] if "request" in row else "")


COMMAND_ROUTES = sorted(k for k, row in ROWS.items()
                        if k[0] in ("POST", "PUT", "PATCH", "DELETE") and not row.get("public"))
# bodies a live session would have refused (400, 415, 422). A Content-Type that is not JSON goes
# to the command server directly: the gateway answers that 415 itself on every route but the
# avatar's (it sees no sessions).
BAD_BODIES = [(COMMAND, "application/json", b'{"unterminated'),
              (COMMAND, "application/json", b'{"nope": 1}'), (COMMAND, "application/json", b"[]"),
              (COMMAND_DIRECT, "image/svg+xml", b"<svg/>"), (COMMAND_DIRECT, "image/png", b"<svg/>")]


@pytest.mark.parametrize("key", COMMAND_ROUTES, ids=lambda k: f"{k[0]} {k[1]}")
def test_dead_session_is_401_before_body_validation(world, key):
    """Every command route authenticates first: a revoked session, or none, gets 401 before the
    body is validated (malformed JSON, unknown fields, a wrong type, a wrong Content-Type), never
    the 400/415/422 a live session would get."""
    path, _ = ROWS[key]["request"](world)
    for kind in ("revoked", "none"):
        for base, ctype, raw in BAD_BODIES:
            h = {**bad_headers(world, kind), "Content-Type": ctype}
            r = http(key[0], f"{base}{path}", None, h, raw=raw)
            a = Answer(r.status, r.headers.get("Content-Type", ""), r.body)
            assert_problem(a, 401, REASONS[kind], f"{key} {kind} {ctype} {raw!r}")


@pytest.mark.parametrize("key", sorted(ROWS), ids=lambda k: f"{k[0]} {k[1]}")
def test_other_users(world, key):
    """Another user, a non-member, the blocked user, the operator: the SPEC's answer, and no
    private data of A in any body."""
    row = ROWS[key]
    w = world
    if key[0] == "WS":
        for who, (status, reason) in row.get("foreign", {}).items():
            msg = ws_subscribe(w.h(who), row["channel"](w))
            assert msg and "error" in msg, (key, who, msg)
            assert msg["error"]["status"] == status, (key, who, msg)
            assert_no_leak(Answer(0, "", json.dumps(msg).encode()), w, who, row["channel"](w))
        if not row.get("not_served"):
            msg = ws_subscribe(w.h("A"), row["channel"](w))
            assert not (msg and "error" in msg), (key, "A", msg)
        return
    path, body = row["request"](w) if "request" in row else (None, None)
    for who, (status, reason) in row.get("foreign", {}).items():
        path, body = row["request"](w)
        a = call(key, row, w, w.h(who), path, body)
        assert_problem(a, status, reason, f"{key} as {who}")
        assert_no_leak(a, w, who, path)
    if "blocked" in row:
        bpath, bbody = row["blocked"](w)
        a = call(key, row, w, w.h("D"), bpath, bbody)
        assert_problem(a, 403, None, f"{key} as the blocked user")
        assert_no_leak(a, w, "D", bpath)
    if "anyone" in row:
        a = call(key, row, w, {}, path, body)
        assert_problem(a, row["anyone"][0], row["anyone"][1], f"{key} anyone")
        assert_no_leak(a, w, "nobody", path)
    if "operator" in row:
        a = call(key, row, w, w.h("O"), path, body)
        assert a.status == row["operator"], (key, a.status, a.body)
    if row.get("own") or row.get("shared"):
        # each caller gets their own view; C's holds nothing of A's (nor of anyone else's private)
        for who in ("C", "D", "E", "A"):
            a = call(key, row, w, w.h(who), path, body)
            assert a.status == 200, (key, who, a.status, a.body)
            assert_no_leak(a, w, who, path)
            if who == "C" and row.get("own"):
                for rid in (w.room_ab, w.room_ad, w.request_ea):
                    assert rid not in a.body.decode(), (key, rid)


def test_stream_bodies_carry_no_private_data(world):
    """The first events of C's streams (snapshot, anything queued) hold nothing of A's."""
    w = world
    for path in ("/v1/notifications/stream", "/v1/friends/presence/stream"):
        s = SSE(PORT, path, w.h("C"), timeout=5)
        assert s.status == 200
        try:
            ev = s.next_event(timeout=2)
        except OSError:
            ev = None
        s.close()
        if ev:
            assert_no_leak(Answer(200, "", json.dumps(ev).encode()), w, "C", path)


def test_operator_role_only_from_the_command_line(world):
    """POST /v1/counsellors/{id}/verify: 403 for everyone but an operator; the operator is
    granted by `command-server grant-role`, never over HTTP (no route grants it)."""
    assert not [r for r in command_routes() if "role" in r[1] or "operator" in r[1]]
