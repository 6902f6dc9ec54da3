"""The job:<id> channel (SPEC §8/§9, issue 11): GET /v1/jobs/{job_id}/stream and the WebSocket
channel job:<id> show the job document of the jobs read model as `job` events until the job
ends; its owner only, with the query API's answers (404 unknown, 403 another user's); a resume
by the job's version returns what came after it (nothing and 204 once the job has ended).
A booking goes through the real saga against the payment simulator, slowed by its latency
fault so that the job's steps can be watched."""
import os
import uuid

import pytest

from conftest import QUERY, eventually, http, new_user
from counselling_helpers import (book, faults, future, new_counsellor, no_faults, operator,
                                 publish)
from stream_client import SSE, WS

PORT = int(os.environ["HL_GATEWAY_PORT"])


@pytest.fixture(autouse=True)
def _no_faults(no_faults):
    yield


def booked(operator, latency_ms=0):
    _, ch = new_counsellor(operator)
    slot = publish(ch, future(days=4))[0]
    kid, kh, _, _ = new_user("Client")
    if latency_ms:
        faults(latency_ms=latency_ms)
    r = book(kh, slot)
    assert r.status == 202, r.body
    job_id = r.json()["job_id"]
    # a stream answers as GET /v1/jobs/{id} does: once the job is in the read model
    eventually(lambda: http("GET", f"{QUERY}/v1/jobs/{job_id}", None, kh).status == 200, 30,
               "the job in the read model")
    return kh, job_id


def test_job_stream_shows_the_saga_until_it_ends(operator):
    kh, job_id = booked(operator, latency_ms=1500)
    s = SSE(PORT, f"/v1/jobs/{job_id}/stream", kh, timeout=60)
    assert s.status == 200, s.body
    events = []
    while True:
        ev = s.next_event(timeout=60)
        if ev is None:
            break  # the stream ends after the job's last state
        events.append(ev)
    assert events and all(e["event"] == "job" for e in events), events
    statuses = [e["data"]["status"] for e in events]
    assert statuses[0] in ("pending", "running"), statuses
    assert statuses[-1] == "succeeded", statuses
    versions = [e["data"]["version"] for e in events]
    assert versions == sorted(set(versions)), versions
    # the last event is what the query API answers
    final = http("GET", f"{QUERY}/v1/jobs/{job_id}", None, kh).json()
    assert events[-1]["data"] == final
    s.close()
    # resume from the first event: everything after it, ending with the final state
    r = SSE(PORT, f"/v1/jobs/{job_id}/stream", dict(kh, **{"Last-Event-ID": events[0]["id"]}))
    assert r.status == 200, r.body
    rest = []
    while (ev := r.next_event(timeout=20)) is not None:
        rest.append(ev)
    assert rest and rest[-1]["data"] == final, rest
    r.close()
    # resume from the last: nothing will follow, 204 (an EventSource stops reconnecting)
    done = SSE(PORT, f"/v1/jobs/{job_id}/stream", dict(kh, **{"Last-Event-ID": events[-1]["id"]}))
    assert done.status == 204, done.body
    done.close()
    # a new stream of an ended job: its final state, then the end
    again = SSE(PORT, f"/v1/jobs/{job_id}/stream", kh)
    assert again.status == 200
    ev = again.next_event(timeout=20)
    assert ev["data"] == final and again.next_event(timeout=20) is None
    again.close()


def test_job_stream_owner_only_and_unknown_jobs(operator):
    kh, job_id = booked(operator)
    _, other, _, _ = new_user("Other")
    s = SSE(PORT, f"/v1/jobs/{job_id}/stream", other)
    assert s.status == 403 and s.problem()["type"].endswith("not-owner"), s.body
    s = SSE(PORT, f"/v1/jobs/{uuid.uuid4()}/stream", kh)
    assert s.status == 404 and s.problem()["type"].endswith("not-found"), s.body
    s = SSE(PORT, f"/v1/jobs/{job_id}/stream")
    assert s.status == 401, s.body
    s = SSE(PORT, f"/v1/jobs/{job_id}/stream", dict(kh, **{"Last-Event-ID": "00000000.1.0"}))
    assert s.status == 400, s.body  # an id of another stream


def test_job_channel_over_websocket(operator):
    kh, job_id = booked(operator)
    final = eventually(lambda: (lambda j: j if j["status"] in ("succeeded", "failed") else None)(
        http("GET", f"{QUERY}/v1/jobs/{job_id}", None, kh).json()), 60, "the job's end")
    ws = WS(PORT, headers=kh)
    assert ws.status == 101
    ws.send({"op": "subscribe", "channel": f"job:{job_id}"})
    msg = ws.recv_event(timeout=20)
    assert msg["channel"] == f"job:{job_id}" and msg["event"] == "job", msg
    assert msg["data"] == final
    _, oh, _, _ = new_user("Other")
    ws2 = WS(PORT, headers=oh)
    ws2.send({"op": "subscribe", "channel": f"job:{job_id}"})
    err = ws2.recv_event(timeout=20)
    assert err["channel"] == f"job:{job_id}" and err["error"]["status"] == 403, err
    ws.close()
    ws2.close()
