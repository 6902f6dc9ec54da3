"""Helpers of the counselling and payment e2e tests (SPEC §9): counsellors, slots, bookings,
jobs, the payment simulator's ledger and failure injection, and restarting the command server
with other settings (deadline, time-outs, the HL_SAGA_CRASH_AT test hook)."""
import datetime
import os
import subprocess

import pytest

from conftest import (COMMAND, QUERY, ROOT, eventually, healthy, http, new_user, psql)

SIM = f"http://127.0.0.1:{os.environ['HL_PAYMENT_PORT']}"
SERVERS = os.path.join(ROOT, "deploy", "local", "servers.sh")
BIN = os.path.join(os.environ.get("HL_BUILD_DIR", os.path.join(ROOT, "build")),
                   "command-server", "command-server")
PG_URL = (f"postgresql://{os.environ['HL_PG_USER']}@127.0.0.1:{os.environ['HL_PG_PORT']}/"
          f"{os.environ['HL_PG_DB']}")


def iso(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def future(**delta):
    """A whole minute at least `delta` from now (UTC)."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(**delta)
    return t.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)


def role(action, email):
    out = subprocess.run([BIN, action, email, "operator"], env=dict(os.environ, HL_PG_URL=PG_URL),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def new_operator():
    uid, headers, email, _ = new_user("Operator")
    role("grant-role", email)
    return uid, headers, email


def new_counsellor(operator_headers=None, price=5000, currency="EUR", minutes=50,
                   specialties=("anxiety",), languages=("en",), name="Counsellor"):
    """A counsellor (verified when operator_headers is given): (id, headers)."""
    cid, headers, _, _ = new_user(name)
    r = http("POST", f"{COMMAND}/v1/counsellors",
             {"headline": "I listen", "specialties": list(specialties),
              "languages": list(languages), "price_minor": price, "currency": currency,
              "session_minutes": minutes}, headers)
    assert r.status == 201, r.body
    if operator_headers:
        v = http("POST", f"{COMMAND}/v1/counsellors/{cid}/verify", None, operator_headers)
        assert v.status == 200, v.body
    return cid, headers


def publish(headers, *starts):
    r = http("POST", f"{COMMAND}/v1/counsellors/me/slots",
             {"slots": [{"starts_at": iso(t)} for t in starts]}, headers)
    assert r.status == 201, r.body
    return r.json()["slot_ids"]


def book(client_headers, slot_id, pm="pm_card_visa"):
    return http("POST", f"{COMMAND}/v1/bookings", {"slot_id": slot_id, "payment_method": pm},
                client_headers)


def job(headers, job_id):
    r = http("GET", f"{QUERY}/v1/jobs/{job_id}", None, headers)
    return r.json() if r.status == 200 else None


def job_done(headers, job_id, timeout_s=60):
    """Poll GET /v1/jobs/{id} until succeeded or failed; returns the job document."""
    return eventually(lambda: (lambda j: j if j and j["status"] in ("succeeded", "failed")
                               else None)(job(headers, job_id)), timeout_s, f"job {job_id}")


def pg_job_done(job_id, timeout_s=60):
    """Poll PostgreSQL until the job ended; returns its status."""
    def done():
        rows = psql(f"SELECT status FROM jobs WHERE job_id = '{job_id}'")
        return rows[0] if rows and rows[0] in ("succeeded", "failed") else None
    return eventually(done, timeout_s, f"job {job_id} in PostgreSQL")


def ledger(booking_id):
    return [e for e in http("GET", f"{SIM}/_admin/ledger").json()["entries"]
            if e["booking_id"] == booking_id]


def ops(booking_id):
    return sorted(e["op"] for e in ledger(booking_id))


def faults(**kw):
    r = http("POST", f"{SIM}/_admin/faults", kw)
    assert r.status == 200, r.body


def clear_faults():
    faults()


def slot_status(slot_id):
    return psql(f"SELECT status FROM slots WHERE slot_id = '{slot_id}'")[0]


def booking_row(booking_id):
    return psql(f"SELECT b.status, p.status FROM bookings b JOIN payments p USING (booking_id)"
                f" WHERE b.booking_id = '{booking_id}'")[0].split("|")


def command_pid():
    with open(os.path.join(os.environ["HL_RUN_DIR"], "command-server.pid")) as f:
        return int(f.read().strip())


def restart_command_server(**env):
    """Stop the command server and start it again with env added (HL_* settings)."""
    subprocess.run(["bash", SERVERS, "stop", "command-server"], check=True, capture_output=True,
                   timeout=120)
    start_command_server(**env)


def start_command_server(**env):
    subprocess.run(["bash", SERVERS, "start", "command-server"], check=True, capture_output=True,
                   timeout=180, env=dict(os.environ, **{k: str(v) for k, v in env.items()}))
    eventually(lambda: healthy(COMMAND), 60, "command server")


def wait_dead(pid, timeout_s=60):
    eventually(lambda: not os.path.exists(f"/proc/{pid}"), timeout_s, "command server gone")


def age_booking(booking_id, hours_ago=2):
    """Move a booking's session (and its slot) into the past: the session has ended."""
    psql(f"UPDATE slots SET starts_at = now() - interval '{hours_ago} hours',"
         f" ends_at = now() - interval '{hours_ago} hours' + minutes * interval '1 minute'"
         f" WHERE slot_id = (SELECT slot_id FROM bookings WHERE booking_id = '{booking_id}')")
    psql(f"UPDATE bookings SET starts_at = now() - interval '{hours_ago} hours'"
         f" WHERE booking_id = '{booking_id}'")


# Fixtures shared by the counselling test modules (pytest finds them where a module imports
# them by name).
@pytest.fixture(scope="module")
def operator():
    """Auth headers of a user granted the operator role (command line, never HTTP)."""
    return new_operator()[1]


@pytest.fixture
def no_faults():
    """No simulator fault before or after the test (a failed test leaves none behind)."""
    clear_faults()
    yield
    clear_faults()
