"""hl-loadgen (bench/loadgen) against the test stack: a small seeded workload through the REST
APIs whose verification pass finds zero mismatches between the read models and PostgreSQL, and
that reports exactly the one difference when a read-model document is corrupted or missing.

The verification is scoped to this run's users, rooms and requests (--run-tag,
--verify-scope=run; it waits on their watermarks, not on the whole projector): other tests seed
read models directly or leave documented limits behind on this shared stack."""
import json
import os
import subprocess
import uuid

from conftest import psql
from pj_helpers import coll

LOADGEN = os.environ.get("HL_LOADGEN") or os.path.join(
    os.environ.get("HL_BUILD_DIR", ""), "bench", "hl-loadgen")


def loadgen(*args, timeout=600):
    return subprocess.run([LOADGEN, "--no-progress", *args], capture_output=True, text=True,
                          timeout=timeout)


TAG = "e2e" + uuid.uuid4().hex[:12]
SCOPE = ("--verify-scope=run", f"--run-tag={TAG}")


def verify_only():
    r = loadgen("--verify-only", *SCOPE, "--verify-timeout=120")
    lines = [line for line in r.stdout.splitlines() if line.startswith("MISMATCH ")]
    return r, lines


def test_same_seed_same_plan():
    a = loadgen("--plan-only", "--seed=11", "--users=60", "--messages=600")
    b = loadgen("--plan-only", "--seed=11", "--users=60", "--messages=600")
    c = loadgen("--plan-only", "--seed=12", "--users=60", "--messages=600")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert a.stdout.split()[1] != c.stdout.split()[1]
    assert " messages 600 " in a.stdout


def test_bad_arguments_are_refused():
    for args in (["--scale=0"], ["--scale=1", "--users=5", "--messages=5"], ["--users=10"],
                 ["--clients=0"], ["--bogus"], ["--verify-only", "--no-verify"],
                 ["--verify-scope=run"], ["--run-tag=Bad-Tag"]):
        r = loadgen("--plan-only", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "hl-loadgen:" in r.stderr


def test_workload_verifies_and_finds_corruption(tmp_path):
    summary = tmp_path / "summary.json"
    r = loadgen("--users=60", "--messages=600", "--seed=5", "--clients=4", *SCOPE,
                "--verify-timeout=300", f"--summary-json={summary}")
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    s = json.loads(summary.read_text())
    assert s["errors"] == 0 and s["mismatches"] == 0, s
    assert s["ops"]["register"] == 60 and s["ops"]["send_message"] == 600, s["ops"]
    for op in ("accept", "reject", "delete_friend", "block", "unblock", "create_direct",
               "create_group", "mark_read", "notifications_read"):
        assert s["ops"][op] > 0, (op, s["ops"])
    assert {p["name"] for p in s["phases"]} >= {"register", "friend-requests", "conversations",
                                                "counsellors", "bookings", "cancellations"}
    # the counselling phase (SPEC §9): bookings, declines, cancellations by both sides
    for op in ("register_counsellor", "verify_counsellor", "publish_slots", "book",
               "cancel_booking"):
        assert s["ops"][op] > 0, (op, s["ops"])
    cs = s["counselling"]
    assert cs["counsellors"] >= 1 and 0 < cs["confirmed"] < cs["bookings"], cs
    for model in ("counsellors", "slots", "bookings", "bookings_by_user", "jobs",
                  "daily_bookings"):
        assert s["verify"]["documents_per_model"][model] > 0, (model, s["verify"])
    run = f"'%.{TAG}@loadgen.invalid'"
    clients = f"(SELECT user_id FROM user_credentials WHERE email LIKE {run})"
    states = psql("SELECT b.status || ':' || COALESCE(b.cancelled_by, '') || ':' || p.status"
                  f" FROM bookings b JOIN payments p USING (booking_id) WHERE b.client_id IN"
                  f" {clients}")
    assert any(x.startswith("failed::declined") for x in states), states
    assert "cancelled:client:voided" in states, states       # >= 24 h before: refunded
    assert "cancelled:client:captured" in states, states     # < 24 h before: charged
    assert "cancelled:counsellor:voided" in states, states   # the counsellor: refunded
    assert "verification: 0 mismatches" in r.stdout

    # a message of this run, and its read-model document
    mid = psql("SELECT m.message_id FROM messages m JOIN user_credentials c ON c.user_id ="
               f" m.sender_id WHERE c.email LIKE '%.{TAG}@loadgen.invalid'"
               " ORDER BY m.created_at DESC LIMIT 1")[0].strip()
    messages = coll("messages")
    match = {"$or": [{"message_id": mid}, {"_id": mid}]}
    doc = messages.find_one(match)
    assert doc is not None
    try:
        messages.update_one({"_id": doc["_id"]}, {"$set": {"body": "corrupted by the test"}})
        r, lines = verify_only()
        assert r.returncode == 1, r.stderr[-2000:]
        assert len(lines) == 1, lines[:10]
        assert lines[0].startswith(f"MISMATCH messages {mid} body: expected ")
        assert lines[0].endswith('actual "corrupted by the test"')
        assert "verification: 1 mismatches" in r.stdout

        messages.delete_one({"_id": doc["_id"]})
        r, lines = verify_only()
        assert r.returncode == 1, r.stderr[-2000:]
        assert lines == [f"MISMATCH messages {mid} document: expected present, "
                         "actual missing document"], lines[:10]
    finally:
        messages.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    # a corrupted booking and a slot the read model lost are reported, one line each
    bid = psql(f"SELECT booking_id FROM bookings WHERE client_id IN {clients}"
               " AND status = 'cancelled' LIMIT 1")[0].strip()
    bookings = coll("bookings")
    bdoc = bookings.find_one({"booking_id": bid})
    assert bdoc is not None and bdoc["status"] == "cancelled"
    try:
        bookings.update_one({"_id": bdoc["_id"]}, {"$set": {"status": "confirmed"}})
        r, lines = verify_only()
        assert r.returncode == 1, r.stderr[-2000:]
        assert lines == [f'MISMATCH bookings {bid} status: expected "cancelled", actual'
                         ' "confirmed"'], lines[:10]
    finally:
        bookings.replace_one({"_id": bdoc["_id"]}, bdoc, upsert=True)

    # a user_names key of a name the user no longer has (what a rename without before image
    # would leave) is a stale extra: reported, as the projector removes such keys itself
    uid = psql("SELECT u.user_id FROM users u JOIN user_credentials c USING (user_id)"
               f" WHERE c.email LIKE '%.{TAG}@loadgen.invalid' LIMIT 1")[0].strip()
    names = coll("user_names")
    stale = f"stale name of the test\x1f{uid}"
    names.insert_one({"_id": stale, "user_id": uid, "display_name_lower": "stale name of the test",
                      "version": 0})
    try:
        r, lines = verify_only()
        assert r.returncode == 1, r.stderr[-2000:]
        assert lines == [f"MISMATCH user_names {uid}:stale name of the test document: expected "
                         "(absent), actual unexpected document"], lines[:10]
    finally:
        names.delete_one({"_id": stale})
    r, lines = verify_only()
    assert r.returncode == 0 and lines == [], (lines[:10], r.stderr[-2000:])
