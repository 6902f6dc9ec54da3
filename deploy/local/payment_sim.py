#!/usr/bin/env python3
"""Payment provider simulator: a test peer standing in for Stripe's PaymentIntents API.

It is not product code. It serves the subset the command server's adapter uses
(command-server/src/payment_provider.h), with Stripe's wire format: form-encoded POST bodies,
`Authorization: Bearer sk_...`, `Idempotency-Key` (same key + same request -> the stored answer
with `Idempotent-Replayed: true`; same key + another request -> 400 idempotency_error; requests
are performed one at a time, so a key is never in flight twice), JSON answers and `{"error": {...}}` with 402 for declines.

  POST /v1/payment_intents                 amount, currency, capture_method, metadata[...]
  POST /v1/payment_intents/{id}/confirm    payment_method (Stripe's test methods below)
  POST /v1/payment_intents/{id}/capture
  POST /v1/payment_intents/{id}/cancel     cancellation_reason
  POST /v1/refunds                         payment_intent
  GET  /v1/payment_intents/{id}

Test payment methods: pm_card_visa (and pm_card_mastercard) authorize;
pm_card_chargeDeclined (card_declined / generic_decline) and
pm_card_chargeDeclinedInsufficientFunds (card_declined / insufficient_funds) decline.

For tests (never in front of clients):
  GET  /_admin/ledger     {"entries": [{op: authorize|capture|void|refund, intent, amount,
                           currency, booking_id, idempotency_key, at}]}: money movements only
  POST /_admin/faults     JSON {latency_ms, fail_5xx, timeouts, timeout_ms, decline_after_auth,
                           path}: latency_ms is added to every answer; the next fail_5xx requests
                           (whose path contains `path`, default any) answer 500 without doing
                           anything; the next `timeouts` requests are performed and then answered
                           only after timeout_ms (the client times out first: work done, answer
                           lost); the next decline_after_auth confirms authorize (ledger) and
                           answer 402 anyway. Values replace the current ones; {} clears all.
  GET  /_admin/faults     the current faults
  POST /_admin/reset      clears faults, intents, idempotency records and the ledger
  GET  /healthz
  GET  /metrics           Prometheus text: hl_payment_sim_requests_total{method,route,status}

Usage: payment_sim.py --port PORT [--host 127.0.0.1]
"""
import argparse
import hashlib
import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {}


def reset():
    STATE.clear()
    STATE.update(intents={}, idem={}, ledger=[], refunds={},
                 faults=dict(latency_ms=0, fail_5xx=0, timeouts=0, timeout_ms=10000,
                             decline_after_auth=0, path=""))


reset()

DECLINES = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds",
                                                "Your card has insufficient funds."),
}
APPROVES = {"pm_card_visa", "pm_card_mastercard", "pm_card_amex"}


def error(status, etype, code, message, decline_code=None, param=None):
    e = {"type": etype, "code": code, "message": message}
    if decline_code:
        e["decline_code"] = decline_code
    if param:
        e["param"] = param
    return status, {"error": e}


def ledger(op, pi, key):
    STATE["ledger"].append(dict(op=op, intent=pi["id"], amount=pi["amount"],
                                currency=pi["currency"],
                                booking_id=pi["metadata"].get("booking_id"),
                                idempotency_key=key, at=time.time()))


def create_intent(form):
    try:
        amount = int(form.get("amount", ""))
    except ValueError:
        return error(400, "invalid_request_error", "parameter_missing",
                     "Missing required param: amount.", param="amount")
    currency = form.get("currency", "")
    if amount < 1 or len(currency) != 3 or not currency.isalpha():
        return error(400, "invalid_request_error", "parameter_invalid_integer",
                     "Invalid amount or currency.", param="amount")
    metadata = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
    pi = dict(id="pi_" + secrets.token_hex(12), object="payment_intent", amount=amount,
              currency=currency.lower(), capture_method=form.get("capture_method", "automatic"),
              status="requires_payment_method", amount_capturable=0, amount_received=0,
              metadata=metadata, payment_method=None, last_payment_error=None,
              created=int(time.time()))
    STATE["intents"][pi["id"]] = pi
    return 200, pi


def confirm(pi, form, key):
    if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
        return error(400, "invalid_request_error", "payment_intent_unexpected_state",
                     f"This PaymentIntent's status is {pi['status']}.")
    pm = form.get("payment_method", "")
    pi["payment_method"] = pm
    if pm in DECLINES:
        code, decline, msg = DECLINES[pm]
        pi["last_payment_error"] = dict(code=code, decline_code=decline, message=msg)
        return error(402, "card_error", code, msg, decline)
    if pm not in APPROVES:
        return error(400, "invalid_request_error", "resource_missing",
                     f"No such PaymentMethod: '{pm}'", param="payment_method")
    manual = pi["capture_method"] == "manual"
    pi["status"] = "requires_capture" if manual else "succeeded"
    pi["amount_capturable"] = pi["amount"] if manual else 0
    pi["amount_received"] = 0 if manual else pi["amount"]
    ledger("authorize", pi, key)
    if STATE["faults"]["decline_after_auth"] > 0:
        STATE["faults"]["decline_after_auth"] -= 1
        return error(402, "card_error", "card_declined", "Your card was declined.",
                     "generic_decline")
    return 200, pi


def capture(pi, key):
    if pi["status"] != "requires_capture":
        return error(400, "invalid_request_error", "payment_intent_unexpected_state",
                     f"This PaymentIntent could not be captured because it has a status of "
                     f"{pi['status']}.")
    pi["status"] = "succeeded"
    pi["amount_received"] = pi["amount_capturable"]
    pi["amount_capturable"] = 0
    ledger("capture", pi, key)
    return 200, pi


def cancel(pi, form, key):
    if pi["status"] in ("succeeded", "canceled"):
        return error(400, "invalid_request_error", "payment_intent_unexpected_state",
                     f"You cannot cancel this PaymentIntent because it has a status of "
                     f"{pi['status']}.")
    if pi["status"] == "requires_capture":
        ledger("void", pi, key)
    pi["status"] = "canceled"
    pi["amount_capturable"] = 0
    pi["cancellation_reason"] = form.get("cancellation_reason")
    return 200, pi


def refund(form, key):
    pi = STATE["intents"].get(form.get("payment_intent", ""))
    if not pi:
        return error(400, "invalid_request_error", "resource_missing",
                     "No such payment_intent.", param="payment_intent")
    if pi["status"] != "succeeded":
        return error(400, "invalid_request_error", "charge_not_captured",
                     "This PaymentIntent has no captured charge to refund.")
    if pi.get("refunded"):
        return error(400, "invalid_request_error", "charge_already_refunded",
                     "Charge has already been refunded.")
    pi["refunded"] = True
    re = dict(id="re_" + secrets.token_hex(12), object="refund", amount=pi["amount_received"],
              currency=pi["currency"], payment_intent=pi["id"], status="succeeded")
    STATE["refunds"][re["id"]] = re
    ledger("refund", pi, key)
    return 200, re


def route(method, path, form, key):
    """The API itself; runs under LOCK. Returns (status, body dict)."""
    parts = path.strip("/").split("/")
    if method == "POST" and parts == ["v1", "payment_intents"]:
        return create_intent(form)
    if method == "POST" and parts == ["v1", "refunds"]:
        return refund(form, key)
    if len(parts) >= 3 and parts[:2] == ["v1", "payment_intents"]:
        pi = STATE["intents"].get(parts[2])
        if not pi:
            return error(404, "invalid_request_error", "resource_missing",
                         f"No such payment_intent: '{parts[2]}'")
        if method == "GET" and len(parts) == 3:
            return 200, pi
        if method == "POST" and len(parts) == 4:
            if parts[3] == "confirm":
                return confirm(pi, form, key)
            if parts[3] == "capture":
                return capture(pi, key)
            if parts[3] == "cancel":
                return cancel(pi, form, key)
    return error(404, "invalid_request_error", "resource_missing", f"Unrecognized request URL "
                 f"({method}: {path}).")


# Requests answered by (method, route, status), for GET /metrics (Prometheus text 0.0.4);
# its own lock (answer() runs under LOCK on the admin routes).
COUNTS = {}
COUNTS_LOCK = threading.Lock()


def metrics_text():
    lines = ["# HELP hl_payment_sim_requests_total Requests the simulator answered",
             "# TYPE hl_payment_sim_requests_total counter"]
    with COUNTS_LOCK:
        for (method, route_, status), n in sorted(COUNTS.items()):
            lines.append(f'hl_payment_sim_requests_total{{method="{method}",route="{route_}",'
                         f'status="{status}"}} {n}')
    return ("\n".join(lines) + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    route_label = "unmatched"

    def log_message(self, fmt, *args):  # quiet: the tests read the ledger, not the log
        pass

    def answer(self, status, body, headers=None):
        with COUNTS_LOCK:
            k = (self.command, self.route_label, status)
            COUNTS[k] = COUNTS.get(k, 0) + 1
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def admin(self, method, path, raw):
        with LOCK:
            if path == "/_admin/ledger" and method == "GET":
                return self.answer(200, {"entries": list(STATE["ledger"])})
            if path == "/_admin/faults" and method == "GET":
                return self.answer(200, dict(STATE["faults"]))
            if path == "/_admin/faults" and method == "POST":
                new = json.loads(raw or b"{}")
                faults = STATE["faults"]
                if not new:
                    faults.update(latency_ms=0, fail_5xx=0, timeouts=0, timeout_ms=10000,
                                  decline_after_auth=0, path="")
                for k, v in new.items():
                    if k not in faults:
                        return self.answer(400, {"error": f"unknown fault {k}"})
                    faults[k] = v
                return self.answer(200, dict(faults))
            if path == "/_admin/reset" and method == "POST":
                reset()
                return self.answer(200, {"reset": True})
        return self.answer(404, {"error": "unknown admin route"})

    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        raw = self.body()
        # ids out of the route label (bounded series): /v1/payment_intents/{id}/capture
        self.route_label = re.sub(r"/(pi|re|pm|cus)_[A-Za-z0-9_]+", "/{id}", path)[:64]
        if path == "/metrics" and method == "GET":
            data = metrics_text()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if path == "/healthz":
            return self.answer(200, {"status": "ok"})
        if path.startswith("/_admin/"):
            return self.admin(method, path, raw)
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer sk_"):
            return self.answer(*error(401, "invalid_request_error", "api_key_invalid",
                                      "Invalid API Key provided."))
        form = dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"),
                                           keep_blank_values=True))
        key = self.headers.get("Idempotency-Key")
        with LOCK:
            faults = dict(STATE["faults"])
            matches = faults["path"] in path
            fail = matches and faults["fail_5xx"] > 0
            if fail:
                STATE["faults"]["fail_5xx"] -= 1
            lose = not fail and matches and faults["timeouts"] > 0 and method == "POST"
            if lose:
                STATE["faults"]["timeouts"] -= 1
        if faults["latency_ms"]:
            time.sleep(faults["latency_ms"] / 1000)
        if fail:
            return self.answer(*error(500, "api_error", "simulated_failure",
                                      "Simulated server error (failure injection)."))
        digest = hashlib.sha256(f"{method} {path} ".encode() + raw).hexdigest()
        replayed = False
        with LOCK:
            if method == "POST" and key:
                stored = STATE["idem"].get(key)
                if stored:
                    if stored[0] != digest:
                        status, body = error(
                            400, "idempotency_error", "idempotency_key_in_use",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.")
                    else:
                        status, body, replayed = stored[1], stored[2], True
                else:
                    status, body = route(method, path, form, key)
                    STATE["idem"][key] = (digest, status, json.loads(json.dumps(body)))
            else:
                status, body = route(method, path, form, key)
            body = json.loads(json.dumps(body))
        if lose:
            time.sleep(faults["timeout_ms"] / 1000)
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        if key:
            headers["Idempotency-Key"] = key
        try:
            self.answer(status, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    print(f"payment simulator on http://{args.host}:{args.port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
