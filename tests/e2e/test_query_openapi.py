"""The query API against its OpenAPI 3.1 document (schemas/openapi/query-api.yaml).

- The document lists exactly the query server's routes (plus the stream listener's, tagged
  `streams`) and every problem type the two servers use.
- Every non-stream route, called with real ids on a populated stack, answers a body that
  validates against the document's schema for that status (jsonschema, Draft 2020-12, the
  dialect of OpenAPI 3.1).
- schemathesis (property-based, from the document) drives the live query server: no 5xx and no
  response (status, content type, headers, body) outside the document. Stream operations are
  excluded there: an open stream never ends (test_streams.py covers them).
"""
import os
import re
import subprocess
import sys

import jsonschema
import yaml

from conftest import COMMAND, QUERY, QUERY_DIRECT, ROOT, befriend, eventually, http, new_user
from counselling_helpers import book, future, job_done, new_counsellor, new_operator, publish

SPEC = os.path.join(ROOT, "schemas", "openapi", "query-api.yaml")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")


def load():
    with open(SPEC) as f:
        return yaml.safe_load(f)


def test_document_lists_every_route_and_problem_type():
    doc = load()
    assert doc["openapi"].startswith("3.1")
    with open(os.path.join(ROOT, "query-server", "src", "main.c")) as f:
        served = set(re.findall(r'\{"GET", "(/v1/[^"]+)"', f.read()))
    assert len(served) >= 15, served
    documented = {p for p, ops in doc["paths"].items()
                  if "streams" not in ops["get"].get("tags", [])}
    assert served == documented, (sorted(served - documented), sorted(documented - served))
    streams = {p for p, ops in doc["paths"].items() if "streams" in ops["get"].get("tags", [])}
    assert {"/v1/ws", "/v1/notifications/stream", "/v1/friends/presence/stream",
            "/v1/chat-rooms/{room_id}/messages/stream", "/v1/jobs/{job_id}/stream"} <= streams
    described = doc["info"]["description"]
    used = set()
    src = os.path.join(ROOT, "query-server", "src")
    for name in os.listdir(src):
        with open(os.path.join(src, name)) as f:
            text = f.read()
        used |= set(re.findall(r'HL_ERR_(?:DOMAIN|INPUT), \d{3},\s*"([a-z0-9-]+)"', text))
        used |= set(re.findall(r'reply_problem\(\s*\w+,\s*\d{3},\s*"([a-z0-9-]+)"', text))
    assert {"invalid-cursor", "not-a-member", "not-owner"} <= used, used
    missing = sorted(r for r in used if f"`{r}`" not in described)
    assert not missing, f"problem types missing from the OpenAPI document: {missing}"


def validator(doc, status, op):
    """A jsonschema validator for the JSON body of op's answer with this status."""
    resp = op["responses"][str(status)]
    if "$ref" in resp:
        resp = doc["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    (media, content), = resp["content"].items()
    schema = dict(content["schema"], components=doc["components"])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return media, jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_every_route_answers_as_documented():
    doc = load()
    a_id, ah, _, _ = new_user("Doc Ada")
    b_id, bh, _, _ = new_user("Doc Bob")
    befriend(ah, b_id, bh)
    room = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b_id]}, ah).json()["room_id"]
    for i in range(3):
        r = http("POST", f"{COMMAND}/v1/chat-rooms/{room}/messages",
                 {"body": f"doc {i}", "client_message_id": f"doc-{i}"}, ah)
        assert r.status == 201, r.body
    c_id, _, _, _ = new_user("Doc Carol")
    dh = new_user("Doc Dan")[1]
    r = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b_id}, dh)
    assert r.status == 201, r.body
    _, oph, _ = new_operator()
    cid, ch = new_counsellor(oph, specialties=("grief",))
    slots = publish(ch, future(days=3), future(days=3, hours=2))
    bk = book(bh, slots[0])
    assert bk.status == 202, bk.body
    job_id, booking_id = bk.json()["job_id"], bk.json()["booking_id"]
    assert job_done(bh, job_id)["status"] == "succeeded"
    token = r.json()["consistency_token"]
    eventually(lambda: http("GET", f"{QUERY}/v1/notifications", None, bh).json()["items"],
               what="b's notifications")
    # The counselling read models come from other topics than the job's: wait until each
    # page this test calls shows the writes above (under the sanitizers they lag seconds).
    for path, headers in (("/v1/counsellors?specialty=grief", None),
                          (f"/v1/counsellors/{cid}/slots", None),
                          ("/v1/bookings?role=client", bh), ("/v1/bookings?role=counsellor", ch)):
        eventually(lambda: http("GET", f"{QUERY}{path}", None, headers).json()["items"],
                   60, f"{path} populated")

    calls = [
        ("/v1/users/{id}", f"/v1/users/{a_id}", None, 200),
        ("/v1/users/{id}", "/v1/users/00000000-0000-4000-8000-000000000000", None, 404),
        ("/v1/users", "/v1/users?q=doc&limit=2", ah, 200),
        ("/v1/users", "/v1/users?q=doc&limit=0", ah, 400),
        ("/v1/friends", "/v1/friends", ah, 200),
        ("/v1/friends", "/v1/friends", None, 401),
        ("/v1/friend-requests", "/v1/friend-requests?direction=incoming", bh, 200),
        ("/v1/friend-requests", "/v1/friend-requests?direction=outgoing", dh, 200),
        ("/v1/chat-rooms", "/v1/chat-rooms", bh, 200),
        ("/v1/chat-rooms/check/{user_id}", f"/v1/chat-rooms/check/{a_id}", bh, 200),
        ("/v1/chat-rooms/check/{user_id}", f"/v1/chat-rooms/check/{c_id}", bh, 200),
        ("/v1/chat-rooms/{room_id}/messages", f"/v1/chat-rooms/{room}/messages?limit=2", bh, 200),
        ("/v1/chat-rooms/{room_id}/messages", f"/v1/chat-rooms/{room}/messages",
         new_user("Doc Eve")[1], 403),
        ("/v1/chat-rooms/{room_id}/messages", f"/v1/chat-rooms/{room}/messages?cursor=x", bh, 400),
        ("/v1/notifications", "/v1/notifications?unread=true", bh, 200),
        ("/v1/stats/daily", "/v1/stats/daily", None, 200),
        ("/v1/jobs/{job_id}", f"/v1/jobs/{job_id}", bh, 200),
        ("/v1/jobs/{job_id}", f"/v1/jobs/{job_id}", ah, 403),
        ("/v1/counsellors", "/v1/counsellors?specialty=grief", None, 200),
        ("/v1/counsellors", "/v1/counsellors?max_price=-1", None, 400),
        ("/v1/counsellors/{id}", f"/v1/counsellors/{cid}", None, 200),
        ("/v1/counsellors/{id}/slots", f"/v1/counsellors/{cid}/slots", None, 200),
        ("/v1/bookings", "/v1/bookings?role=client", bh, 200),
        ("/v1/bookings", "/v1/bookings?role=counsellor", ch, 200),
        ("/v1/bookings/{id}", f"/v1/bookings/{booking_id}", bh, 200),
        ("/v1/bookings/{id}", f"/v1/bookings/{booking_id}", ah, 403),
    ]
    seen = set()
    for template, path, headers, status in calls:
        r = http("GET", f"{QUERY}{path}", None, headers)
        assert r.status == status, (path, r.status, r.body)
        media, v = validator(doc, status, doc["paths"][template]["get"])
        assert r.headers["Content-Type"].startswith(media), (path, r.headers)
        errors = sorted(v.iter_errors(r.json()), key=str)
        assert not errors, (path, [f"{list(e.path)}: {e.message}" for e in errors[:5]])
        if status == 200:
            seen.add(template)
            body = r.json()
            assert body.get("items", [body]), f"{path}: an empty page proves little"
    # a read with the friend request's token waits for it and answers as documented
    r = http("GET", f"{QUERY}/v1/friend-requests", None, dict(bh, **{"X-Consistency-Token": token}))
    assert r.status == 200 and r.json()["items"], r.body
    non_stream = {p for p, ops in doc["paths"].items()
                  if "streams" not in ops["get"].get("tags", [])}
    assert seen == non_stream, sorted(non_stream - seen)


def test_schemathesis_against_live_server():
    _, headers, _, _ = new_user("Schemathesis Query")
    st = os.path.join(os.path.dirname(sys.executable), "st")
    cmd = [st, "run", SPEC, "--base-url", QUERY_DIRECT, "--checks", CHECKS,
           "--experimental=openapi-3.1", "-H", f"Authorization: {headers['Authorization']}",
           "--exclude-tag", "streams",
           "--hypothesis-max-examples", os.environ.get("HL_SCHEMATHESIS_EXAMPLES", "40"),
           "--hypothesis-seed", "7256", "--request-timeout", "15000", "--workers", "2",
           "--no-color"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-2000:]
