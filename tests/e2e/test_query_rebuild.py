"""Reads keep working while the projector rebuilds a read model (SPEC §5): the real
`projector rebuild <model>` fills a shadow collection and switches read_model_aliases; the
query server follows the alias (cache <= 1 s) and every read during and after the rebuild
answers 200 with the same data."""
import os
import subprocess
import threading
import uuid

import pymongo

from conftest import COMMAND, KAFKA, MONGO_DB, MONGO_URI, PG, QUERY, REGISTRY, http
from conftest import new_visible_user, read, token_of


def projector_rebuild(model):
    binary = os.path.join(os.environ["HL_BUILD_DIR"], "projector", "projector")
    env = dict(os.environ, HL_KAFKA_BROKERS=KAFKA, HL_MONGO_URI=MONGO_URI, HL_MONGO_DB=MONGO_DB,
               HL_SCHEMA_REGISTRY_URL=REGISTRY,
               HL_PG_URL=f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{PG['db']}",
               HL_PROJECTOR_LISTEN="127.0.0.1:0")
    return subprocess.run([binary, "rebuild", model], env=env, capture_output=True, text=True,
                          timeout=600)


def hammer(path, headers, expect, stop, out):
    """GET path until stop is set; record every answer that is not 200 with `expect`."""
    n = 0
    while not stop.is_set():
        r = http("GET", f"{QUERY}{path}", headers=headers)
        n += 1
        got = r.json() if r.status == 200 else None
        if r.status != 200 or expect(got) is not True:
            out.append((r.status, r.body[:300]))
    out.append(("reads", n))


def test_reads_during_rebuilds_of_a_cdc_and_an_event_read_model():
    tag = uuid.uuid4().hex[:8]
    a, ah, _ = new_visible_user(f"Rebuild{tag} A")
    b, bh, _ = new_visible_user(f"Rebuild{tag} B")
    fr = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": b}, ah)
    assert fr.status == 201, fr.body
    acc = http("POST", f"{COMMAND}/v1/friend-requests/{fr.json()['request_id']}/accept", None, bh)
    assert acc.status == 200, acc.body
    room = http("POST", f"{COMMAND}/v1/chat-rooms", {"member_ids": [b]}, ah)
    room_id = room.json()["room_id"]
    last = None
    for i in range(5):
        last = http("POST", f"{COMMAND}/v1/chat-rooms/{room_id}/messages",
                    {"body": f"before rebuild {i}", "client_message_id": str(uuid.uuid4())}, ah)
        assert last.status == 201, last.body
    page = read(f"/v1/chat-rooms/{room_id}/messages", bh, token_of(last))
    inbox = read("/v1/chat-rooms", bh, token_of(last))
    seqs = [m["seq"] for m in page["items"]]
    entry = next(i for i in inbox["items"] if i["room_id"] == room_id)

    cases = [
        ("messages", f"/v1/chat-rooms/{room_id}/messages",
         lambda j: [m["seq"] for m in j["items"]] == seqs),
        ("inbox", "/v1/chat-rooms",
         lambda j: any(i["room_id"] == room_id and i["last_seq"] == entry["last_seq"]
                       for i in j["items"])),
    ]
    db = pymongo.MongoClient(MONGO_URI)[MONGO_DB]
    for model, path, expect in cases:
        stop, out = threading.Event(), []
        t = threading.Thread(target=hammer, args=(path, bh, expect, stop, out))
        t.start()
        try:
            res = projector_rebuild(model)
        finally:
            stop.set()
            t.join(60)
        assert res.returncode == 0, res.stderr[-2000:]
        reads = [x for x in out if x[0] == "reads"]
        bad = [x for x in out if x[0] != "reads"]
        assert reads and reads[0][1] > 5, out
        assert bad == [], f"{model}: {len(bad)} of {reads[0][1]} reads failed: {bad[:3]}"
        alias = db.read_model_aliases.find_one({"_id": model})
        assert alias and alias["collection"] != model and alias["collection"].startswith(model)
        # after the switch the shadow serves the reads, and new writes reach it
        r = http("POST", f"{COMMAND}/v1/chat-rooms/{room_id}/messages",
                 {"body": f"after {model}", "client_message_id": str(uuid.uuid4())}, ah)
        assert r.status == 201, r.body
        seq = r.json()["seq"]
        after = read(f"/v1/chat-rooms/{room_id}/messages?limit=1", bh, token_of(r))
        assert after["items"][0]["seq"] == seq
        e = next(i for i in read("/v1/chat-rooms", bh, token_of(r))["items"]
                 if i["room_id"] == room_id)
        assert e["last_seq"] == seq
        seqs = [m["seq"] for m in read(f"/v1/chat-rooms/{room_id}/messages", bh,
                                       token_of(r))["items"]]
        entry = e
