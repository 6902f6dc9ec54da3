"""Conformance of the payment provider adapter (command-server/src/payment_provider.c) with
Stripe's real wire format: every call it makes (create with manual capture, confirm, capture,
cancel, refund; form-encoded, Bearer key, Idempotency-Key) is sent to stripe-mock, Stripe's own
OpenAPI-driven mock, which refuses any request the real API would refuse. The same calls against
the local simulator move money as the ledger shows."""
import os
import subprocess
import urllib.parse

import pytest

from conftest import ROOT, eventually, http, free_port
from counselling_helpers import SIM

CONFORMANCE = os.path.join(os.environ.get("HL_BUILD_DIR", os.path.join(ROOT, "build")), "tests",
                           "payment-conformance")



@pytest.fixture(scope="module")
def stripe_mock():
    out = subprocess.run(["bash", os.path.join(ROOT, "deploy", "local", "stripe_mock.sh"),
                          "install"], capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    binary = out.stdout.strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen([binary, "-http-addr", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return http("GET", f"{url}/v1/payment_intents",
                        headers={"Authorization": "Bearer sk_test_123"}, timeout=2).status == 200
        except OSError:
            return False
    try:
        eventually(up, 60, "stripe-mock")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(url):
    out = subprocess.run([CONFORMANCE, url, "sk_test_123"], capture_output=True, text=True,
                         timeout=60)
    lines = [line.split() for line in out.stdout.splitlines()]
    return out.returncode, lines, out.stderr


def test_every_adapter_call_is_accepted_by_stripe_mock(stripe_mock):
    rc, lines, stderr = run(stripe_mock)
    assert rc == 0, (lines, stderr)
    assert [line[0] for line in lines] == ["create", "confirm", "capture", "refund", "create",
                                           "confirm", "cancel"]
    assert all(line[1] == "200" for line in lines), lines
    assert lines[0][3].startswith("pi_") and lines[3][3].startswith("re_")


def test_stripe_mock_refuses_what_stripe_refuses(stripe_mock):
    """The control: stripe-mock validates, so the test above proves something."""
    for form in ({"amount": "100", "currency": "usd", "capture_method": "later"},
                 {"amount": "100", "currency": "usd", "not_a_parameter": "1"},
                 {"amount": "ten", "currency": "usd"}):
        r = http("POST", f"{stripe_mock}/v1/payment_intents",
                 raw=urllib.parse.urlencode(form).encode(),
                 headers={"Authorization": "Bearer sk_test_123",
                          "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 400, (form, r.body)


def test_the_same_calls_against_the_simulator_move_money_once_each():
    rc, lines, stderr = run(SIM)
    assert rc == 0, (lines, stderr)
    assert [line[2] for line in lines] == ["ok"] * 7
    assert [line[4] for line in lines] == ["requires_payment_method", "requires_capture",
                                           "succeeded", "succeeded", "requires_payment_method",
                                           "requires_capture", "canceled"]
    a, b = lines[0][3], lines[4][3]
    entries = http("GET", f"{SIM}/_admin/ledger").json()["entries"]
    assert [e["op"] for e in entries if e["intent"] == a] == ["authorize", "capture", "refund"]
    assert [e["op"] for e in entries if e["intent"] == b] == ["authorize", "void"]
    # a repeated key answers the stored result, another request with it is refused
    key = {"Authorization": "Bearer sk_test_1", "Idempotency-Key": "conf-replay",
           "Content-Type": "application/x-www-form-urlencoded"}
    first = http("POST", f"{SIM}/v1/payment_intents", raw=b"amount=5&currency=eur", headers=key)
    again = http("POST", f"{SIM}/v1/payment_intents", raw=b"amount=5&currency=eur", headers=key)
    other = http("POST", f"{SIM}/v1/payment_intents", raw=b"amount=6&currency=eur", headers=key)
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status == 400 and other.json()["error"]["type"] == "idempotency_error"
