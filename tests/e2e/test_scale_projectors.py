"""Issue 16: several projectors in one consumer group keep every read model exact.

A second projector (`servers.sh start projector-2`: same binary and configuration, same consumer
group, its own port, log and pid file) joins the stack's projector; an hl-loadgen workload runs
through the gateway (registrations, friend requests, answers, unfriending, blocks, rooms,
messages, read receipts, read-all of notifications: every event read model, every CDC table),
and in the middle of it a third projector joins the group and leaves it again (two forced
rebalances while batches are in flight). Then the verification of hl-loadgen compares every
read-model document of the run (users, rooms, requests, notifications, inbox, daily counters,
user_counters, ...) with PostgreSQL: 0 mismatches.

Before the fix (issue 16) the read-all marks of notifications lived in one process's memory, so
a notification created by one projector after the other applied its recipient's read-all stayed
unread (5,958 of 5,961 mismatches of the issue's run).

A second, deterministic test: notifications created by one projector after the other applied
the recipient's read-all (the creating projector held back with SIGSTOP for a few seconds, less
than the group's session timeout) come out read.

The verification is scoped to this run (--verify-scope=run): other tests of the shared test
stack seed read models directly. Then one process replays every input topic into a fresh
database (`projector replay`) and every read-model document of the run (the counselling ones
included: hl-loadgen books sessions, and a slot, a booking or a counsellor is changed by events
of three aggregates on two topics, all keyed by the counsellor, see command-server's
event_store.c) must equal what the two (three) processes wrote, exactly. The population is
small so that the test takes ~3 minutes."""
import json
import os
import re
import subprocess
import threading
import time
import uuid

from conftest import ROOT, eventually, healthy, http, psql
from pj_helpers import MODELS, User, cli, coll, db

SERVERS = os.path.join(ROOT, "deploy", "local", "servers.sh")
LOADGEN = os.environ.get("HL_LOADGEN") or os.path.join(
    os.environ.get("HL_BUILD_DIR", ""), "bench", "hl-loadgen")
TAG = "sc" + uuid.uuid4().hex[:12]


def servers(*args, env=None):
    return subprocess.run(["bash", SERVERS, *args], capture_output=True, text=True, timeout=240,
                          env={**os.environ, **(env or {})})


def port_of(name):
    r = servers("port", name)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip())


def log_of(name):
    path = os.path.join(os.environ["HL_LOG_DIR"], f"{name}.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def assigned_counts(text):
    """The partition counts of every 'rebalance: N partitions assigned' line of a projector log."""
    return [int(n) for n in re.findall(r"rebalance: (\d+) partitions assigned", text)]


def test_two_projectors_and_a_rebalance_mid_run_verify_exactly(tmp_path):
    offsets = {n: len(log_of(n)) for n in ("projector", "projector-2", "projector-3")}
    r = servers("start", "projector-2")
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        eventually(lambda: healthy(f"http://127.0.0.1:{port_of('projector-2')}"), 60,
                   "projector-2 healthy")
        # both members hold partitions before the workload starts
        eventually(lambda: any(n > 0 for n in assigned_counts(log_of("projector-2")
                                                              [offsets["projector-2"]:])),
                   90, "projector-2 assigned partitions")

        summary = tmp_path / "summary.json"
        out = {}

        def workload():
            out["r"] = subprocess.run(
                [LOADGEN, "--no-progress", "--users=50", "--messages=1500", "--seed=16",
                 "--clients=4", "--verify-scope=run", f"--run-tag={TAG}", "--verify-timeout=300",
                 f"--summary-json={summary}"],
                capture_output=True, text=True, timeout=900)

        t = threading.Thread(target=workload, daemon=True)
        t.start()
        # registrations and friend requests are under way
        eventually(lambda: run_progress() >= (30, 20) or not t.is_alive(), 240,
                   "hl-loadgen registered 30 users and sent 20 friend requests")
        assert t.is_alive(), "the workload ended before the rebalance: make it larger"
        r = servers("start", "projector-3")
        assert r.returncode == 0, r.stdout + r.stderr
        eventually(lambda: any(n > 0 for n in assigned_counts(log_of("projector-3")
                                                              [offsets["projector-3"]:])),
                   90, "projector-3 assigned partitions (the group rebalanced)")
        third_port = port_of("projector-3")
        # it applies batches of its partitions while the workload goes on
        eventually(lambda: applied(third_port) >= 20, 120, "projector-3 applied 20 inputs")
        assert t.is_alive(), "the workload ended before projector-3 left: make it larger"
        r = servers("stop", "projector-3")  # leaves the group: a second rebalance
        assert r.returncode == 0, r.stdout + r.stderr
        t.join(900)
        assert not t.is_alive(), "hl-loadgen did not finish"
        res = out["r"]
        s = json.loads(summary.read_text())
        assert s["errors"] == 0 and s["mismatches"] == 0, (s, res.stdout[-4000:])
        assert res.returncode == 0, (res.stdout[-4000:], res.stderr[-3000:])
        assert "verification: 0 mismatches" in res.stdout
        for op in ("accept", "delete_friend", "send_message", "mark_read", "notifications_read"):
            assert s["ops"][op] > 0, (op, s["ops"])
        # the run really had the rebalances: the stack's projector was assigned anew after
        # projector-3 joined and after it left, and projector-3 revoked what it had
        third = log_of("projector-3")[offsets["projector-3"]:]
        assert "partitions revoked" in third, third[-2000:]
        first = log_of("projector")[offsets["projector"]:]
        assert len(assigned_counts(first)) >= 2, first[-3000:]
        # and what the two (three) processes wrote equals one process's pass over the same
        # inputs, document by document, for every read model the run touched
        eventually(lambda: all(behind(port_of(n)) == 0 for n in ("projector", "projector-2")),
                   180, "both projectors caught up")
        differences, compared = compare_with_one_projector(scope_ids())
        print(f"compared with a one-process replay, documents per model: {compared}")
        assert compared["bookings"] > 0 and compared["slots"] > 0 and \
            compared["counsellors"] > 0, compared
        assert differences == [], (compared, differences)
    finally:
        servers("stop", "projector-3")
        servers("stop", "projector-2")


def run_progress():
    """(users registered, friend requests sent) of this run so far, from PostgreSQL."""
    users = f"SELECT user_id FROM user_credentials WHERE email LIKE '%.{TAG}@loadgen.invalid'"
    n = psql(f"SELECT (SELECT count(*) FROM ({users}) u),"
             f" (SELECT count(*) FROM friend_requests WHERE from_user_id IN ({users}))")[0]
    a, b = n.split("|")
    return int(a), int(b)


def applied(port):
    """hl_projection_inputs_total{result="applied"} of the projector on port, summed (0 when
    it does not answer)."""
    try:
        r = http("GET", f"http://127.0.0.1:{port}/metrics", timeout=5)
    except OSError:
        return 0
    return sum(int(float(line.split()[-1])) for line in r.body.decode().splitlines()
               if line.startswith("hl_projection_inputs_total{") and 'result="applied"' in line)


# Every read model that events or CDC rows of an hl-loadgen run change (presence is left out:
# it follows stream connections and the clock, not inputs).
COMPARED = MODELS + ["counsellors", "slots", "bookings", "bookings_by_user", "daily_bookings",
                     "jobs"]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def scope_ids():
    """Every aggregate and row id of this run (its users and what they own or share), as
    hl-loadgen scopes --verify-scope=run."""
    users = f"SELECT user_id FROM user_credentials WHERE email LIKE '%.{TAG}@loadgen.invalid'"
    rows = psql(
        f"SELECT user_id::text FROM ({users}) u"
        f" UNION SELECT room_id::text FROM room_members WHERE user_id IN ({users})"
        f" UNION SELECT request_id::text FROM friend_requests WHERE from_user_id IN ({users})"
        f" OR to_user_id IN ({users})"
        f" UNION SELECT friendship_id::text FROM friendships WHERE user_a IN ({users})"
        f" OR user_b IN ({users})"
        f" UNION SELECT session_id::text FROM sessions WHERE user_id IN ({users})"
        f" UNION SELECT booking_id::text FROM bookings WHERE client_id IN ({users})"
        f" OR counsellor_id IN ({users})"
        f" UNION SELECT job_id::text FROM jobs WHERE owner_id IN ({users})"
        f" UNION SELECT p.payment_id::text FROM payments p JOIN bookings b USING (booking_id)"
        f" WHERE b.client_id IN ({users}) OR b.counsellor_id IN ({users})")
    ids = {r.strip() for r in rows if r.strip()}
    assert len(ids) >= 50, len(ids)
    return ids


def in_scope(doc_json, ids):
    return any(u in ids for u in UUID.findall(doc_json))


def compare_with_one_projector(ids):
    """Replay every input topic with one process (`projector replay`, the daemon's plans and
    batched writes) into a fresh database and compare it with the live read models, document
    by document, for the documents of this run. Returns (differences, documents compared per
    model)."""
    database = f"hl_scale_{uuid.uuid4().hex[:10]}"
    try:
        r = cli(f"--mongo-db={database}", "replay", timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        differences, compared = [], {}
        for m in COMPARED:
            live = {d for d in (json.dumps(x, sort_keys=True, default=str)
                                for x in coll(m).find({})) if in_scope(d, ids)}
            one = {d for d in (json.dumps(x, sort_keys=True, default=str)
                               for x in coll(m, database).find({})) if in_scope(d, ids)}
            compared[m] = len(one)
            if live != one:
                differences.append((m, len(live), len(one), sorted(live - one)[:3],
                                    sorted(one - live)[:3]))
        return differences, compared
    finally:
        db(database).client.drop_database(database)


def behind(port):
    """hl_projector_offsets_behind of the projector on port (None while it has no assignment)."""
    try:
        r = http("GET", f"http://127.0.0.1:{port}/metrics", timeout=5)
    except OSError:
        return None
    for line in r.body.decode().splitlines():
        if line.startswith("hl_projector_offsets_behind "):
            return int(float(line.split()[1]))
    return None


def test_a_notification_created_after_its_read_all_by_the_other_projector_is_read():
    ports = [port_of("projector"), port_of("projector-2")]
    # a session timeout longer than the hold below: projector-2 stays the owner of its
    # partitions while stopped (with the default 10 s a slow API could get it removed from the
    # group, and the other process would apply everything)
    r = servers("start", "projector-2",
                env={"HL_KAFKA_CONSUMER_OVERRIDES": "session.timeout.ms=60000"})
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        eventually(lambda: healthy(f"http://127.0.0.1:{ports[1]}"), 60, "projector-2 healthy")
        # warm-up: notifications on every partition, so that both processes have planned
        # notifications (a process that kept marks in memory has loaded them by now)
        users = [User(f"rall{i}") for i in range(24)]
        senders = [User(f"rsnd{i}") for i in range(24)]
        for s_, u in zip(senders, users):
            s_.call("POST", "/v1/friend-requests", {"to_user_id": u.id})
        eventually(lambda: all(behind(p) == 0 for p in ports), 180, "both projectors caught up")
        with open(os.path.join(os.environ["HL_RUN_DIR"], "projector-2.pid")) as f:
            pid2 = int(f.read().strip())
        log_at = len(log_of("projector-2"))
        # hold projector-2 back: what its partitions carry waits while the other process goes on
        os.kill(pid2, 19)  # SIGSTOP
        try:
            t0 = time.monotonic()
            for s_, u in zip(reversed(senders), users):
                s_.call("POST", "/v1/friend-requests", {"to_user_id": u.id})
            for u in users:
                u.call("POST", "/v1/notifications/read", {"all": True}, ok=(200,))
            # the other process applies every read-all of its partitions meanwhile
            eventually(lambda: behind(ports[0]) == 0, 40, "the stack's projector caught up")
            held = time.monotonic() - t0
        finally:
            os.kill(pid2, 18)  # SIGCONT
        assert held < 50, f"held projector-2 {held:.1f} s: longer than its session timeout"
        assert "revoked" not in log_of("projector-2")[log_at:], "projector-2 lost its partitions"
        eventually(lambda: all(behind(p) == 0 for p in ports), 180, "both projectors caught up")
        ids = [u.id for u in users]

        def unread():
            return sorted(d["_id"] for d in coll("notifications").find(
                {"user_id": {"$in": ids}, "kind": {"$exists": True}, "read": {"$ne": True}}))
        # every notification of these users was created before its recipient's read-all
        eventually(lambda: coll("notifications").count_documents(
            {"user_id": {"$in": ids}, "kind": {"$exists": True}}) == 2 * len(users), 60,
            "48 notifications")
        assert unread() == [], (f"held {held:.1f} s", unread())
    finally:
        servers("stop", "projector-2")
