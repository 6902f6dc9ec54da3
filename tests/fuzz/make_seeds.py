#!/usr/bin/env python3
"""Write the seed corpora of the libFuzzer targets into tests/fuzz/corpus/<target>/ (committed;
re-run after a schema or wire-format change). Seeds are valid inputs of each decoder, from
tests/golden (the Debezium envelopes captured from the real connector, the fastavro-made Avro
frames) and from the shapes the e2e tests send, so that the fuzzers start deep in each decoder.

Every target's input starts with one selector byte (see the target's header comment), then the
bytes its decoder receives. Avro frames are made with fastavro (an implementation independent of
avro-c) for every event type of schemas/topics.json, schema id = topic index + 1 (the fuzz
target's mapping). Usage: $HL_CACHE_DIR/venv/bin/python tests/fuzz/make_seeds.py
"""
import base64
import io
import json
import os
import shutil
import struct
import uuid

import fastavro

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")
SCHEMAS = os.path.join(ROOT, "schemas")
OUT = os.path.join(HERE, "corpus")

U = [str(uuid.UUID(int=0x0189_0a5d_ac96_774b_bcce_b302_099a_8057 + i)) for i in range(8)]
TS = 1_700_000_000_123_456  # µs


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def command_bodies():
    bodies = [
        {"email": "ada@example.com", "password": "correct horse", "display_name": "Ada"},
        {"email": "ada@example.com", "password": "correct horse"},
        {"display_name": "Ada L", "bio": "first programmer", "avatar_url": "https://x.example/a.png"},
        {"status": "online"},
        {"to_user_id": U[1]},
        {"member_ids": [U[1], U[2]], "title": "Trio"},
        {"body": "hello é ✓", "client_message_id": "c-1"},
        {"up_to_seq": 7},
        {"notification_ids": [f"{U[0]}:{TS:019d}:{U[3]}"], "all": False},
    ]
    for i, b in enumerate(bodies):
        write("command_body", f"valid-{i}", bytes([i]) + json.dumps(b, ensure_ascii=False).encode())
    write("command_body", "all-read", bytes([8]) + b'{"all":true}')


def query_params():
    write("query_params", "limit", b"\x00" + b"20")
    write("query_params", "before-seq", b"\x01" + b"42")
    kinds = "ufrcmn"
    for i, k in enumerate(kinds):
        plain = f"{k}1|1700000000123|{U[i % 8]}|ada".encode()
        cursor = base64.urlsafe_b64encode(plain).rstrip(b"=")
        # selector 2 + 7*i: cursor decode of kind kinds[i]; 6: the plain text, encoded by the target
        write("query_params", f"cursor-{k}", bytes([2 + 7 * i]) + cursor)
        write("query_params", f"cursor-plain-{k}", b"\x06" + plain)
    write("query_params", "search", b"\x03" + "Ada Lé".encode())
    write("query_params", "name-key", b"\x04" + f"ada lovelace\x1f{U[0]}".encode())
    write("query_params", "day", b"\x05" + b"2026-12-02")


def tokens():
    write("tokens", "bearer", b"\x00" + b"Bearer eyJzaWQiOiJ4In0.bWFj")
    write("tokens", "consistency", b"\x01" + b"eyJ3IjpbXX0.bWFj")
    # the form with a key id (kid.payload.mac, 43-character MAC)
    write("tokens", "bearer-kid", b"\x00" + b"Bearer AAAAAAAA.eyJzaWQiOiJ4In0." + b"A" * 43)
    write("tokens", "session-payload",
          b"\x02" + json.dumps({"sid": U[0], "uid": U[1], "exp": 1800000000000}).encode())
    write("tokens", "consistency-payload",
          b"\x03" + json.dumps({"w": [[f"ev.User:{U[0]}", 3], [f"cdc.users:{U[0]}", 2]],
                                "t": 1700000000000}).encode())


def cdc():
    tables = ["users", "sessions", "chat_rooms", "room_members", "messages", "jobs"]
    for name in sorted(os.listdir(GOLDEN)):
        if name.startswith("cdc_") and name.endswith(".json"):
            with open(os.path.join(GOLDEN, name), "rb") as f:
                write("cdc_plan", name, b"\x00" + f.read())
    rows = {
        "sessions": {"session_id": U[0], "user_id": U[1], "created_at": "2025-01-01T00:00:00Z",
                     "expires_at": "2025-01-02T00:00:00Z", "revoked_at": None, "version": 1},
        "chat_rooms": {"room_id": U[2], "kind": "group", "title": "T", "created_by": U[1],
                       "direct_key": None, "last_seq": 3, "created_at": 1700000000000000,
                       "updated_at": 1700000000000000, "version": 4},
        "room_members": {"room_id": U[2], "user_id": U[1], "joined_at": "2025-01-01T00:00:00Z",
                         "last_read_seq": 0, "room_version": 2},
        "messages": {"message_id": U[3], "room_id": U[2], "seq": 7, "sender_id": U[1],
                     "body": "hi", "client_message_id": "c-1",
                     "created_at": "2025-01-01T00:00:00.123456Z", "room_version": 8},
        "jobs": {"job_id": U[4], "owner_id": U[1], "kind": "booking", "status": "running",
                 "booking_id": U[5], "steps": json.dumps([{"step": "hold", "at": TS}]),
                 "result": None, "error": json.dumps({"reason": "declined"}),
                 "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:01Z",
                 "version": 3},
    }
    for table, row in rows.items():
        sel = bytes([tables.index(table)])
        for op in "cur":
            env = {"before": None, "after": row, "op": op, "ts_ms": 1,
                   "source": {"lsn": 5, "ts_ms": 6, "table": table, "snapshot": "false"}}
            write("cdc_plan", f"{table}-{op}", sel + json.dumps(env).encode())
        key = {k: row[k] for k in ("session_id", "room_id", "user_id", "seq", "job_id") if k in row}
        env = {"before": key, "after": None, "op": "d", "ts_ms": 1, "source": {"lsn": 5, "ts_ms": 6}}
        write("cdc_plan", f"{table}-d", sel + json.dumps(env).encode())


def value_for(ftype, name):
    """A plausible value of Avro type ftype for field name."""
    if isinstance(ftype, list):  # ["null", T]
        other = [t for t in ftype if t != "null"]
        return value_for(other[0], name) if other else None
    if isinstance(ftype, dict):
        if ftype.get("type") == "array":
            return [value_for(ftype["items"], name) for _ in range(2)]
        return value_for(ftype["type"], name)
    if ftype == "string":
        if name == "status":
            return "online"
        if name in ("kind",):
            return "group"
        if name in ("body", "title", "display_name", "bio", "preview"):
            return "hello é"
        if name == "notification_ids":
            return f"{U[0]}:{TS:019d}:{U[3]}"
        return U[sum(name.encode()) % 8]
    if ftype == "long":
        return TS if name.endswith("_at") else 3
    if ftype == "int":
        return 3
    if ftype == "boolean":
        return True
    return None


def events():
    with open(os.path.join(SCHEMAS, "topics.json")) as f:
        topics = json.load(f)["topics"]
    for idx, (topic, types) in enumerate(topics.items()):
        named = {}
        records = []
        for t in types:
            with open(os.path.join(SCHEMAS, f"{t}.avsc")) as f:
                rec = json.load(f)
            records.append(rec)
        union = fastavro.parse_schema(records, named_schemas=named)
        for rec in records:
            full = f"{rec['namespace']}.{rec['name']}" if rec.get("namespace") else rec["name"]
            value = {fld["name"]: value_for(fld["type"], fld["name"]) for fld in rec["fields"]}
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, union, (full, value))
            frame = b"\x00" + struct.pack(">I", idx + 1) + buf.getvalue()
            write("event_plan", rec["name"], frame)
    for name in sorted(os.listdir(GOLDEN)):
        if name.endswith(".avro.hex"):
            with open(os.path.join(GOLDEN, name)) as f:
                frame = bytes.fromhex("".join(f.read().split()))
            write("event_plan", f"golden-{name}", frame)


def counselling_bodies():
    full = {"headline": "Listening, without judgement", "bio": "Ten years of practice.",
            "specialties": ["anxiety", "grief"], "languages": ["en", "pt-BR"],
            "price_minor": 6000, "currency": "EUR", "session_minutes": 50}
    write("counselling_body", "register", b"\x00" + json.dumps(full).encode())
    write("counselling_body", "patch", b"\x01" + json.dumps({"headline": "New", "price_minor": 1}).encode())
    slots = {"slots": [{"starts_at": "2023-11-15T10:00:00Z"}, {"starts_at": "2023-11-16T09:30:00+01:00"}]}
    write("counselling_body", "slots", b"\x02" + json.dumps(slots).encode())
    write("counselling_body", "booking",
          b"\x03" + json.dumps({"slot_id": U[1], "payment_method": "pm_card_visa"}).encode())
    write("counselling_body", "review", b"\x04" + json.dumps({"rating": 5, "comment": "Kind."}).encode())
    write("counselling_body", "tag", b"\x05" + b"zh-Hant-TW")
    write("counselling_body", "currency", b"\x05" + b"EUR")


def stream_proto():
    room = f"room:{U[0]}"
    write("stream_proto", "ws-subscribe", b"\x00" + json.dumps(
        {"op": "subscribe", "channel": room, "last_event_id": "1a2b3c4d.12.3"}).encode())
    write("stream_proto", "ws-unsubscribe", b"\x00" + json.dumps(
        {"op": "unsubscribe", "channel": "notifications"}).encode())
    write("stream_proto", "ws-job", b"\x00" + json.dumps(
        {"op": "subscribe", "channel": f"job:{U[2]}"}).encode())
    write("stream_proto", "path-room", b"\x01" + f"/v1/chat-rooms/{U[0]}/messages/stream".encode())
    write("stream_proto", "path-job", b"\x01" + f"/v1/jobs/{U[2]}/stream".encode())
    write("stream_proto", "path-presence", b"\x01" + b"/v1/friends/presence/stream")
    write("stream_proto", "id-room", b"\x02" + b"0a1b2c3d.42.7")
    write("stream_proto", "id-notification",
          b"\x02" + f"0a1b2c3d.{TS}.{TS}.{U[3]}".encode())


def stream_change():
    with open(os.path.join(SCHEMAS, "StreamChange.avsc")) as f:
        rec = json.load(f)
    schema = fastavro.parse_schema([rec])
    full = f"{rec['namespace']}.{rec['name']}"
    samples = {
        "message": (f"room:{U[0]}", json.dumps({"_id": f"{U[0]}:42", "seq": 42, "body": "hi",
                                                 "sender_id": U[1]})),
        "read": (f"room:{U[0]}", json.dumps({"user_id": U[1], "last_read_seq": 42})),
        "notification": (f"notifications:{U[1]}", json.dumps({"kind": "new-message"})),
        "presence": (f"presence:{U[1]}", json.dumps({"presence": "online",
                                                      "updated_at": {"$date": 1700000000000}})),
        "revoked": (f"session:{U[4]}", "{}"),
        "job": (f"job:{U[2]}", json.dumps({"job_id": U[2], "status": "running", "steps": []})),
    }
    for kind, (channel, doc) in samples.items():
        value = {"channel": channel, "kind": kind, "position": 42, "version": 42,
                 "doc_id": U[5], "document": doc, "projected_at": TS}
        value = {f["name"]: value.get(f["name"], value_for(f["type"], f["name"]))
                 for f in rec["fields"]}
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, (full, value))
        write("stream_change", kind, b"\x00" + struct.pack(">I", 1) + buf.getvalue())


if __name__ == "__main__":
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    command_bodies()
    query_params()
    tokens()
    cdc()
    events()
    counselling_bodies()
    stream_proto()
    stream_change()
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))))
