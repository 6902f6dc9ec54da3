"""Walking skeleton, end to end: a registered user reaches PostgreSQL, Kafka (Avro, Confluent
framing, decoded with the schemas in schemas/), Debezium CDC, the read models and the query API;
no password, hash or e-mail leaks into any topic or read model."""
import io
import json
import os
import re
import struct
import uuid

import fastavro
import pymongo
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import (COMMAND, KAFKA, MONGO_DB, MONGO_URI, QUERY, QUERY_DIRECT, REGISTRY, ROOT, eventually,
                      http, psql, register)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TRACEPARENT_RE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def topic_schema(topic):
    """The union value schema of a topic, built from schemas/topics.json and the .avsc files."""
    with open(os.path.join(ROOT, "schemas", "topics.json")) as f:
        types = json.load(f)["topics"][topic]
    records = []
    for name in types:
        with open(os.path.join(ROOT, "schemas", f"{name}.avsc")) as f:
            records.append(json.load(f))
    return fastavro.parse_schema(records)


def read_topic(topic, timeout_s=30):
    """Every message of topic from offset 0 up to the high watermarks at call time."""
    c = Consumer({"bootstrap.servers": KAFKA, "group.id": f"e2e-{uuid.uuid4()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        md = c.list_topics(topic, timeout=10)
        parts = md.topics[topic].partitions.keys()
        ends = {}
        for p in parts:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if hi > lo:
                ends[p] = hi
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        out = []
        import time
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append(m)
            if m.offset() + 1 >= ends.get(m.partition(), 0):
                ends.pop(m.partition(), None)
        assert not ends, f"could not read {topic} to its end: {ends}"
        return out
    finally:
        c.close()


def test_register_validation_and_conflict():
    r, email, password = register("Validation Case")
    assert r.status == 201
    # Same e-mail in another case: 409 problem+json, nothing written.
    before = psql("SELECT count(*) FROM events")[0]
    dup = http("POST", f"{COMMAND}/v1/users",
               {"email": email.upper(), "password": password, "display_name": "Twin"})
    assert dup.status == 409
    assert dup.headers["Content-Type"] == "application/problem+json"
    assert dup.json()["type"] == "urn:hearlers:problem:email-taken"
    # Bad input: unknown field, wrong type, over-long name, malformed JSON, not JSON, too big.
    bad = [
        ({"email": "x@example.com", "password": "longenough", "display_name": "A", "admin": True}, 422),
        ({"email": "x@example.com", "password": 12345678, "display_name": "A"}, 422),
        ({"email": "x@example.com", "password": "longenough", "display_name": "A" * 65}, 422),
        ({"email": "not-an-email", "password": "longenough", "display_name": "A"}, 422),
        ({"email": "x@example.com", "password": "short", "display_name": "A"}, 422),
    ]
    for body, status in bad:
        r = http("POST", f"{COMMAND}/v1/users", body)
        assert r.status == status, (body, r.body)
        assert r.headers["Content-Type"] == "application/problem+json"
    assert http("POST", f"{COMMAND}/v1/users", raw=b'{"email": ').status == 400
    assert http("POST", f"{COMMAND}/v1/users", raw=b'{"email":"\xff"}').status == 400
    assert http("POST", f"{COMMAND}/v1/users", raw=b"{}",
                headers={"Content-Type": "text/plain"}).status == 415
    assert http("POST", f"{COMMAND}/v1/users", raw=b'{"a":"' + b"x" * 70000 + b'"}').status == 413
    assert psql("SELECT count(*) FROM events")[0] == before


def test_registered_users_reach_every_layer():
    stats_before = http("GET", f"{QUERY}/v1/stats/daily").json()["items"][-1]["users_registered"]
    users = []
    for name in ["Ada Lovelace", "Grace Hopper", "Émilie du Châtelet"]:
        r, email, password = register(name)
        assert r.status == 201, r.body
        body = r.json()
        assert UUID_RE.match(body["user_id"])
        assert body["version"] == 1
        assert r.headers["X-Consistency-Token"] == body["consistency_token"]
        assert r.headers["Location"] == f"/v1/users/{body['user_id']}"
        users.append((body, email, password, name))

    # Read-your-writes: with the token, the query server answers only once the profile is there.
    first = users[0][0]
    r = http("GET", f"{QUERY}/v1/users/{first['user_id']}",
             headers={"X-Consistency-Token": first["consistency_token"],
                      "X-Consistency-Wait-Ms": "10000"})
    assert r.status == 200, r.body
    assert r.json()["display_name"] == "Ada Lovelace"

    # The others: bounded polling until the query API shows them.
    for body, _, _, name in users:
        profile = eventually(
            lambda: (lambda x: x.json() if x.status == 200 else None)(
                http("GET", f"{QUERY}/v1/users/{body['user_id']}")),
            what=f"profile of {name}")
        assert profile["id"] == body["user_id"]
        assert profile["display_name"] == name
        assert profile["bio"] == "" and profile["avatar_url"] == ""
        assert profile["presence"] == "offline"
        assert profile["friend_count"] == 0
        assert profile["version"] == 1
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", profile["created_at"])

    # Daily stats (from the UserRegistered domain events) count the three registrations.
    eventually(lambda: http("GET", f"{QUERY}/v1/stats/daily").json()["items"][-1]
               ["users_registered"] >= stats_before + 3, what="daily stats")

    # A user going online is an active user of the day (daily_active_users, counted per day).
    active_before = http("GET", f"{QUERY}/v1/stats/daily").json()["items"][-1]["active_users"]
    reg, email, password = register("Active Tester")  # kept out of `users`: its version moves
    assert reg.status == 201, reg.body
    login = http("POST", f"{COMMAND}/v1/sessions", {"email": email, "password": password})
    assert login.status == 201, login.body
    auth = {"Authorization": f"Bearer {login.json()['token']}"}
    online = http("PUT", f"{COMMAND}/v1/users/me/presence", {"status": "online"}, headers=auth)
    assert online.status == 200, online.body
    r = http("GET", f"{QUERY}/v1/stats/daily",
             headers={"X-Consistency-Token": online.json()["consistency_token"],
                      "X-Consistency-Wait-Ms": "10000"})
    assert r.status == 200, r.body
    assert r.json()["items"][-1]["active_users"] == active_before + 1

    # Unknown user and write methods on the query side.
    assert http("GET", f"{QUERY}/v1/users/{uuid.uuid4()}").status == 404
    assert http("POST", f"{QUERY_DIRECT}/v1/users/{first['user_id']}", {}).status == 405

    # PostgreSQL: one users row, one credentials row with an argon2id hash, one event.
    for body, email, password, name in users:
        uid = body["user_id"]
        assert psql(f"SELECT display_name, version FROM users WHERE user_id = '{uid}'") == [f"{name}|1"]
        h = psql(f"SELECT password_hash FROM user_credentials WHERE user_id = '{uid}'")[0]
        assert h.startswith("$argon2id$") and password not in h
        assert psql(f"SELECT event_type, aggregate_version FROM events WHERE aggregate_id = '{uid}'") \
            == ["UserRegistered|1"]

    # Kafka: the domain event, Confluent-framed Avro, decoded with the schema from schemas/.
    schema = topic_schema("user.events")
    ids = {u[0]["user_id"]: u for u in users}
    found = {}
    for m in eventually(lambda: (lambda ms: ms if {m.key().decode() for m in ms} >= ids.keys() else None)(
            read_topic("user.events")), what="events on user.events"):
        key = m.key().decode()
        if key not in ids:
            continue
        value = m.value()
        assert value[0] == 0, "Confluent magic byte"
        (schema_id,) = struct.unpack(">I", value[1:5])
        reg = http("GET", f"{REGISTRY}/schemas/ids/{schema_id}")
        assert reg.status == 200
        registered = fastavro.parse_schema(json.loads(reg.json()["schema"]))
        buf = io.BytesIO(value[5:])
        record = fastavro.schemaless_reader(buf, schema, registered)
        assert buf.tell() == len(value) - 5, "no trailing bytes"
        found[key] = (record, dict(m.headers() or []))
    assert found.keys() == ids.keys()
    for uid, (record, headers) in found.items():
        name = ids[uid][3]
        # fastavro applies the uuid logical type: the string on the wire comes back as a UUID.
        assert str(record["aggregate_id"]) == uid
        assert record["aggregate_version"] == 1
        assert record["display_name"] == name
        assert UUID_RE.match(str(record["event_id"]))
        assert record["causation_id"] is not None
        assert headers["event_type"] == b"UserRegistered"
        assert headers["event_id"].decode() == str(record["event_id"])
        assert TRACEPARENT_RE.match(headers["traceparent"].decode())

    # Debezium: the users row on cdc.public.users as a JSON envelope.
    cdc = eventually(lambda: (lambda ms: ms if {json.loads(m.key())["user_id"] for m in ms
                                                if m.value()} >= ids.keys() else None)(
        read_topic("cdc.public.users")), what="CDC rows")
    for m in cdc:
        env = json.loads(m.value())
        if env["after"] and env["after"]["user_id"] in ids:
            assert env["op"] in ("c", "r")
            assert env["source"]["table"] == "users" and env["source"]["lsn"] > 0

    # No password, hash or e-mail anywhere downstream: every topic and every read model.
    secrets = [u[2] for u in users] + [u[1] for u in users] + ["$argon2"]
    hashes = [psql(f"SELECT password_hash FROM user_credentials WHERE user_id = '{uid}'")[0]
              for uid in ids]
    secrets += hashes
    admin = AdminClient({"bootstrap.servers": KAFKA})
    topics = [t for t in admin.list_topics(timeout=10).topics if not t.startswith("__")]
    assert "user.events" in topics and "cdc.public.users" in topics
    for t in topics:
        for m in read_topic(t):
            blob = (m.key() or b"") + (m.value() or b"")
            for s in secrets:
                assert s.encode() not in blob, f"{s[:12]}… leaked into topic {t}"
    db = pymongo.MongoClient(MONGO_URI)[MONGO_DB]
    names = db.list_collection_names()
    assert "user_profiles" in names and "daily_stats" in names
    for coll in names:
        for doc in db[coll].find():
            blob = json.dumps(doc, default=str)
            for s in secrets:
                assert s not in blob, f"{s[:12]}… leaked into read model {coll}"
