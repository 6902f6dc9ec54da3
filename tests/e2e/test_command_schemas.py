"""Avro schema evolution (issue 3): the schemas in schemas/ must stay BACKWARD compatible with
the versions registered in the schema registry (subjects <topic>-value, registered by the
command server at start). A schema change that breaks that fails here, before deployment; a
deliberately broken variant proves the check bites."""
import copy
import json
import os
import urllib.error
import urllib.request

import pytest

from conftest import REGISTRY, ROOT

with open(os.path.join(ROOT, "schemas", "topics.json")) as f:
    TOPICS = json.load(f)["topics"]


def union_schema(topic, mutate=None):
    records = []
    for name in TOPICS[topic]:
        with open(os.path.join(ROOT, "schemas", f"{name}.avsc")) as f:
            rec = json.load(f)
        if mutate:
            rec = mutate(rec)
        records.append(rec)
    return json.dumps(records)


def registry(method, path, body=None):
    req = urllib.request.Request(f"{REGISTRY}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def compatible(topic, schema):
    status, body = registry("POST", f"/compatibility/subjects/{topic}-value/versions/latest",
                            {"schema": schema})
    assert status == 200, (status, body)
    return body["is_compatible"]


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_event_schema_in_repo_is_backward_compatible_with_registry(topic):
    status, versions = registry("GET", f"/subjects/{topic}-value/versions")
    assert status == 200 and versions, f"{topic}-value is not registered: {versions}"
    status, cfg = registry("GET", f"/config/{topic}-value")
    assert status == 200 and cfg.get("compatibilityLevel") == "BACKWARD", cfg
    assert compatible(topic, union_schema(topic)), \
        f"schemas/ for {topic} break BACKWARD compatibility with the registered version"


def test_breaking_change_is_detected():
    def add_required_field(rec):
        rec = copy.deepcopy(rec)
        rec["fields"].append({"name": "must_have", "type": "string"})  # no default: breaking
        return rec
    assert not compatible("user.events", union_schema("user.events", add_required_field))

    def optional_field(rec):
        rec = copy.deepcopy(rec)
        rec["fields"].append({"name": "maybe", "type": ["null", "string"], "default": None})
        return rec
    assert compatible("user.events", union_schema("user.events", optional_field))
