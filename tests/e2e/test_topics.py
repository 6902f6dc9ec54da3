"""Issue 17 defect 4: every topic is declared in deploy/topics.conf and created (partitions,
retention, cleanup policy) before the servers start, so a fresh stack's first events are not
late. Registered as the first end-to-end test (tests/CMakeLists.txt), so on `make test`'s fresh
stack it runs before any other command: the friend request below is the first record of
friend.events, and its notification must be readable within the default 2 s consistency wait."""
import json
import os
import subprocess

from confluent_kafka.admin import AdminClient, ConfigResource

from conftest import COMMAND, KAFKA, QUERY, ROOT, http
from pj_helpers import User

TOPICS_FILE = os.path.join(ROOT, "deploy", "topics.conf")
HL_TOPICS = os.path.join(os.environ.get("HL_BUILD_DIR", os.path.join(ROOT, "build")), "common", "tools",
                         "hl-topics")


def declared():
    """{name: (partitions, retention.ms, cleanup.policy)} from deploy/topics.conf."""
    out = {}
    with open(TOPICS_FILE) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                name, parts, retention, policy = line
                out[name] = (int(parts), retention, policy)
    return out


def test_every_declared_topic_exists_with_its_partitions_and_configs():
    want = declared()
    admin = AdminClient({"bootstrap.servers": KAFKA})
    md = admin.list_topics(timeout=10).topics
    for name, (parts, retention, policy) in want.items():
        assert name in md, f"{name} declared but not created"
        assert len(md[name].partitions) == parts, (name, len(md[name].partitions), parts)
    futures = admin.describe_configs([ConfigResource("topic", n) for n in want])
    for res, fut in futures.items():
        cfg = fut.result(timeout=10)
        parts, retention, policy = want[res.name]
        assert cfg["retention.ms"].value == retention, (res.name, cfg["retention.ms"].value)
        assert cfg["cleanup.policy"].value == policy, (res.name, cfg["cleanup.policy"].value)
    r = subprocess.run([HL_TOPICS, f"--brokers={KAFKA}", f"--file={TOPICS_FILE}", "check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_topic_the_code_uses_is_declared():
    want = declared()
    with open(os.path.join(ROOT, "schemas", "topics.json")) as f:
        for topic in json.load(f)["topics"]:
            assert topic in want, f"schemas/topics.json topic {topic} is not in deploy/topics.conf"
    with open(os.path.join(ROOT, "deploy", "compose", "debezium-connector.json")) as f:
        tables = json.load(f)["table.include.list"].split(",")
    for t in tables:
        assert f"cdc.{t}" in want, f"captured table {t}: cdc.{t} is not in deploy/topics.conf"
    assert "projector.dead-letter" in want


def test_first_friend_request_notification_within_the_default_wait():
    a, b = User("Topics A"), User("Topics B")
    r = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b.id},
             {"Authorization": f"Bearer {a.token}"})
    assert r.status == 201, r.body
    token = r.headers["X-Consistency-Token"]
    # no X-Consistency-Wait-Ms: the default 2 s
    n = http("GET", f"{QUERY}/v1/notifications",
             headers={"Authorization": f"Bearer {b.token}", "X-Consistency-Token": token})
    assert n.status == 200, (n.status, n.body)
    kinds = [i["kind"] for i in n.json()["items"]]
    assert "friend_request" in kinds, n.body
