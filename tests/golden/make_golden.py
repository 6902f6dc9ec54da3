#!/usr/bin/env python3
"""Regenerate the golden Avro wire-format files used by tests/unit/test_avro_events.c.

The bytes come from fastavro (https://fastavro.readthedocs.io), an Avro implementation that
shares no code with avro-c or with hearlers, so the C test checks our encoding against an
independent reading of the Avro 1.11 specification.

For each case this script builds the topic value schema the way common/src/events.c does (the
Avro union of the .avsc records listed for the topic in schemas/topics.json, in that order),
encodes the event with fastavro.schemaless_writer selecting the union branch explicitly with a
(full record name, record) tuple, prefixes the Confluent header (magic 0, schema id big-endian
int32) and writes <Event>.avro.hex: lowercase hex, 32 bytes per line. It then reads every file
back with fastavro and checks the round trip.

Usage (fastavro is not a project dependency):
    python3 -m venv /tmp/avenv && /tmp/avenv/bin/pip install fastavro
    /tmp/avenv/bin/python tests/golden/make_golden.py
"""

import datetime
import io
import json
import os
import struct
import sys
import uuid

import fastavro

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "..", "schemas")
SCHEMA_ID = 42
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

# Keep these values in sync with tests/unit/test_avro_events.c.
CASES = [
    (
        "user.events",
        "UserRegistered",
        {
            "event_id": "01890a5d-ac96-774b-bcce-b302099a8057",
            "aggregate_id": "01890a5d-ac96-774b-bcce-b302099a8058",
            "aggregate_version": 1,
            "occurred_at": 1700000000123456,
            "causation_id": None,
            "correlation_id": "01890a5d-ac96-774b-bcce-b302099a8059",
            "display_name": "Ada Lovelace \u2713",
        },
    ),
    (
        "chat.events",
        "ChatRoomCreated",
        {
            "event_id": "01890a5d-ac96-774b-bcce-b302099a8060",
            "aggregate_id": "01890a5d-ac96-774b-bcce-b302099a8061",
            "aggregate_version": 1,
            "occurred_at": 1700000000654321,
            "causation_id": "01890a5d-ac96-774b-bcce-b302099a8062",
            "correlation_id": None,
            "kind": "group",
            "title": "Analytical Engine \u00e9quipe",
            "member_ids": [
                "01890a5d-ac96-774b-bcce-b302099a8058",
                "01890a5d-ac96-774b-bcce-b302099a8063",
                "01890a5d-ac96-774b-bcce-b302099a8064",
            ],
            "created_by": "01890a5d-ac96-774b-bcce-b302099a8058",
        },
    ),
    (
        "user.events",
        "UserProfileUpdated",
        {
            "event_id": "01890a5d-ac96-774b-bcce-b302099a8065",
            "aggregate_id": "01890a5d-ac96-774b-bcce-b302099a8058",
            "aggregate_version": 300,
            "occurred_at": -1,
            "causation_id": "01890a5d-ac96-774b-bcce-b302099a8066",
            "correlation_id": "01890a5d-ac96-774b-bcce-b302099a8067",
            "display_name": None,
            "bio": "",
            "avatar_url": "https://example.com/a.png",
        },
    ),
]


def topic_union(topic):
    with open(os.path.join(SCHEMAS, "topics.json"), encoding="utf-8") as f:
        types = json.load(f)["topics"][topic]
    records = []
    for name in types:
        with open(os.path.join(SCHEMAS, name + ".avsc"), encoding="utf-8") as f:
            records.append(json.load(f))
    return records


def full_name(record_schema):
    ns = record_schema.get("namespace")
    return ns + "." + record_schema["name"] if ns else record_schema["name"]


def plain(value):
    """fastavro's reader applies logical types (uuid -> UUID, timestamp-micros -> datetime):
    turn them back into the strings and integers that were written."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(microseconds=1)
    return value


def main():
    for topic, event_type, record in CASES:
        union = topic_union(topic)
        branch = next(s for s in union if s["name"] == event_type)
        parsed = fastavro.parse_schema(union)
        buf = io.BytesIO()
        buf.write(struct.pack(">bI", 0, SCHEMA_ID))
        fastavro.schemaless_writer(buf, parsed, (full_name(branch), record))
        data = buf.getvalue()

        # Read back: the branch and every field must survive.
        back = fastavro.schemaless_reader(
            io.BytesIO(data[5:]), parsed, return_record_name=True
        )
        assert back[0] == full_name(branch), back
        assert plain(back[1]) == record, (back[1], record)

        hexed = data.hex()
        lines = [hexed[i : i + 64] for i in range(0, len(hexed), 64)]
        path = os.path.join(HERE, event_type + ".avro.hex")
        with open(path, "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{path}: {len(data)} bytes (fastavro {fastavro.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
