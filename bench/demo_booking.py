#!/usr/bin/env python3
"""make demo, step 2b: one booking through the gateway (SPEC §9): an operator (granted with
`command-server grant-role`), a verified counsellor with two slots, a client who finds them in
the directory, books with pm_card_visa, and follows the job to `succeeded`; then the booking, the
client's counselling room, and the payment simulator's ledger entry. Stdlib only; ports from
deploy/local/env.sh (HL_GATEWAY_PORT, HL_PAYMENT_PORT, HL_PG_*, HL_BUILD_DIR)."""
import datetime
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid

GW = f"http://127.0.0.1:{os.environ['HL_GATEWAY_PORT']}"
SIM = f"http://127.0.0.1:{os.environ['HL_PAYMENT_PORT']}"


def http(method, path, body=None, headers=None, base=GW):
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def user(name):
    email = f"demo-{uuid.uuid4().hex[:10]}@example.com"
    st, b = http("POST", "/v1/users", {"email": email, "password": "demo-password",
                                       "display_name": name})
    assert st == 201, b
    st, s = http("POST", "/v1/sessions", {"email": email, "password": "demo-password"})
    assert st == 201, s
    return b["user_id"], {"Authorization": f"Bearer {s['token']}"}, email


def show(title, doc):
    print(f"-- {title}")
    print(json.dumps(doc, indent=1)[:1500])


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    binary = os.path.join(os.environ.get("HL_BUILD_DIR", os.path.join(root, "build")),
                          "command-server", "command-server")
    pg = (f"postgresql://{os.environ['HL_PG_USER']}@127.0.0.1:{os.environ['HL_PG_PORT']}/"
          f"{os.environ['HL_PG_DB']}")
    _, op_h, op_email = user("Demo operator")
    subprocess.run([binary, "grant-role", op_email, "operator"], check=True,
                   capture_output=True, env=dict(os.environ, HL_PG_URL=pg))
    cid, ch, _ = user("Dr Demo")
    st, b = http("POST", "/v1/counsellors", {"headline": "Grief and stress, in English or German",
                                             "specialties": ["grief", "stress"],
                                             "languages": ["en", "de"], "price_minor": 6000,
                                             "currency": "EUR", "session_minutes": 50}, ch)
    show(f"POST /v1/counsellors -> {st}", b)
    st, b = http("POST", f"/v1/counsellors/{cid}/verify", None, op_h)
    print(f"-- POST /v1/counsellors/{{id}}/verify (operator) -> {st}")
    t = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).replace(
        minute=0, second=0, microsecond=0)
    slots = [{"starts_at": (t + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")}
             for h in (0, 1)]
    st, b = http("POST", "/v1/counsellors/me/slots", {"slots": slots}, ch)
    show(f"POST /v1/counsellors/me/slots -> {st}", b)
    slot = b["slot_ids"][0]
    kid, kh, _ = user("Demo client")
    for _ in range(100):
        st, d = http("GET", "/v1/counsellors?specialty=grief&language=en&max_price=8000&limit=100")
        mine = [c for c in d["items"] if c["counsellor_id"] == cid and c["next_open_slot"]]
        if mine:
            break
        time.sleep(0.1)
    show("GET /v1/counsellors?specialty=grief&language=en&max_price=8000 (this counsellor)",
         mine[0] if mine else d)
    st, b = http("POST", "/v1/bookings", {"slot_id": slot, "payment_method": "pm_card_visa"}, kh)
    show(f"POST /v1/bookings -> {st}", b)
    job = None
    for _ in range(300):
        st, job = http("GET", f"/v1/jobs/{b['job_id']}", None, kh)
        if st == 200 and job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    show("GET /v1/jobs/{job_id}", job)
    for _ in range(100):
        st, booking = http("GET", f"/v1/bookings/{b['booking_id']}", None, kh)
        if st == 200 and booking["status"] == "confirmed":
            break
        time.sleep(0.1)
    show("GET /v1/bookings/{booking_id}", booking)
    st, rooms = http("GET", "/v1/chat-rooms?limit=5", None, kh)
    show("GET /v1/chat-rooms (the client's counselling room)", rooms["items"][:1])
    st, ledger = http("GET", "/_admin/ledger", base=SIM)
    show("payment simulator ledger (this booking)",
         [e for e in ledger["entries"] if e["booking_id"] == b["booking_id"]])


if __name__ == "__main__":
    main()
