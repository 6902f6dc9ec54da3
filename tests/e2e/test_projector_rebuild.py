"""`projector rebuild <model>`: shadow collection from the events table, progress, atomic alias
switch; reads keep answering throughout and the result equals PostgreSQL."""
import subprocess
import threading

from conftest import PG, eventually, psql
from pj_helpers import PROJECTOR_BIN, User, befriend, cli, coll, db


def test_rebuild_friend_requests_while_reading():
    a, b = User("Rebuild A"), User("Rebuild B")
    req = befriend(a, b)
    before = {row.split("|")[0]: row.split("|")[1]
              for row in psql("SELECT request_id, status FROM friend_requests")}
    stop, failures, reads = threading.Event(), [], [0]

    def reader():
        while not stop.is_set():
            try:
                if coll("friend_requests").count_documents({}) == 0:
                    failures.append("empty during rebuild")
                reads[0] += 1
            except Exception as e:  # noqa: BLE001 - any read failure fails the test
                failures.append(repr(e))

    t = threading.Thread(target=reader)
    t.start()
    try:
        pg_url = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{PG['db']}"
        r = cli(f"--pg-url={pg_url}", "rebuild", "friend_requests")
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0, r.stderr
    assert "progress:" in r.stderr and "switching alias" in r.stderr
    alias = db().read_model_aliases.find_one({"_id": "friend_requests"})
    assert alias and alias["collection"].startswith("friend_requests__rb")
    assert not failures and reads[0] > 0, failures[:3]
    got = {d["_id"]: d["status"] for d in coll("friend_requests").find({})}
    assert got[req] == "accepted"
    assert {k: got.get(k) for k in before} == before  # every request PostgreSQL had
    assert cli("rebuild", "no_such_model").returncode == 2


def test_rebuild_user_names_from_the_topic():
    """user_names is rebuilt from cdc.public.users (as user_profiles): one key per user with its
    current name, the old key of a rename gone again (the update's before image deletes it)."""
    a = User("Rebuild Names A")
    a.call("PATCH", "/v1/users/me", {"display_name": "Rebuild Names Renamed"})
    eventually(lambda: coll("user_names").find_one(
        {"_id": f"rebuild names renamed\x1f{a.id}"}), 60, "the renamed key")
    r = cli("rebuild", "user_names")
    assert r.returncode == 0, r.stderr
    assert "from the topics" in r.stderr and "switching alias" in r.stderr
    alias = db().read_model_aliases.find_one({"_id": "user_names"})
    assert alias and alias["collection"].startswith("user_names__rb")
    keys = [d["_id"] for d in coll("user_names").find({"user_id": a.id})]
    assert keys == [f"rebuild names renamed\x1f{a.id}"]
    rows = psql("SELECT count(*) FROM users")[0]
    assert coll("user_names").count_documents({}) >= int(rows)
