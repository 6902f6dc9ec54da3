"""Crash safety of the booking saga (issue 12): the command server is killed with SIGKILL at each
saga step (the HL_SAGA_CRASH_AT test hook makes it kill itself at a named point); after a
restart every saga ends consistent, the simulator's ledger shows no double authorization,
capture or void, and PostgreSQL, the simulator and the read models agree."""
import collections

import pytest

from conftest import COMMAND, QUERY, eventually, http, new_user, psql
from counselling_helpers import (age_booking, book, booking_row, clear_faults, command_pid,
                                 future, ledger, new_counsellor, operator, pg_job_done,
                                 publish, restart_command_server, start_command_server,
                                 wait_dead)


@pytest.fixture(autouse=True)
def normal_server_after():
    """Whatever happened, the next test starts with a normal (unarmed) command server."""
    clear_faults()
    yield
    restart_command_server()


def no_double_moves(booking_id):
    counts = collections.Counter(e["op"] for e in ledger(booking_id))
    assert all(n == 1 for n in counts.values()), counts
    return counts


def read_model_agrees(headers, booking_id, status):
    eventually(lambda: (lambda r: r.status == 200 and r.json()["status"] == status)(
        http("GET", f"{QUERY}/v1/bookings/{booking_id}", None, headers)), 60,
        f"read model shows {status}")


def crash_then_restart(point, action):
    """Restart the server armed at point, run action() (which triggers the crash), wait for the
    process to die, start it normally. Returns what action returned."""
    restart_command_server(HL_SAGA_CRASH_AT=point)
    pid = command_pid()
    out = action()
    wait_dead(pid)
    start_command_server()
    return out


@pytest.mark.parametrize("point", ["after-hold", "after-create_intent-call", "after-confirm-call",
                                   "after-confirm_intent-commit", "after-confirm_booking-commit"])
def test_kill9_during_booking_then_saga_completes_once(operator, point):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(days=10))[0]
    kid, kh, _, _ = new_user("Client")

    def go():
        try:
            return book(kh, slot, "pm_card_visa")
        except OSError:  # the server died before answering (after-hold)
            return None
    crash_then_restart(point, go)
    booking = eventually(lambda: psql(f"SELECT booking_id, (SELECT job_id FROM jobs j WHERE"
                                      f" j.booking_id = b.booking_id) FROM bookings b"
                                      f" WHERE slot_id = '{slot}'"), 30, "booking row")[0]
    booking_id, job_id = booking.split("|")
    assert pg_job_done(job_id, 90) == "succeeded"
    assert booking_row(booking_id) == ["confirmed", "authorized"]
    assert no_double_moves(booking_id) == {"authorize": 1}
    assert psql(f"SELECT count(*) FROM chat_rooms c JOIN room_members m USING (room_id)"
                f" WHERE m.user_id = '{kid}' AND c.kind = 'counselling'") == ["1"]
    read_model_agrees(kh, booking_id, "confirmed")


def test_kill9_during_decline_compensation_releases_the_slot_once(operator):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(days=10))[0]
    kid, kh, _, _ = new_user("Client")
    r = crash_then_restart("after-void-call", lambda: book(kh, slot, "pm_card_chargeDeclined"))
    assert pg_job_done(r.json()["job_id"], 90) == "failed"
    assert booking_row(r.json()["booking_id"]) == ["failed", "declined"]
    assert psql(f"SELECT status FROM slots WHERE slot_id = '{slot}'") == ["open"]
    no_double_moves(r.json()["booking_id"])
    read_model_agrees(kh, r.json()["booking_id"], "failed")


@pytest.mark.parametrize("point", ["after-capture-call", "after-capture-commit"])
def test_kill9_during_capture_then_one_capture(operator, point):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(hours=3))[0]
    kid, kh, _, _ = new_user("Client")
    r = book(kh, slot)
    assert pg_job_done(r.json()["job_id"]) == "succeeded"
    booking_id = r.json()["booking_id"]
    age_booking(booking_id)
    done = crash_then_restart(point, lambda: http(
        "POST", f"{COMMAND}/v1/bookings/{booking_id}/complete", None, ch))
    assert done.status == 202, done.body
    assert pg_job_done(done.json()["job_id"], 90) == "succeeded"
    assert booking_row(booking_id) == ["completed", "captured"]
    assert no_double_moves(booking_id) == {"authorize": 1, "capture": 1}
    read_model_agrees(kh, booking_id, "completed")


def test_kill9_during_refund_cancellation_then_one_void(operator):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(days=10))[0]
    kid, kh, _, _ = new_user("Client")
    r = book(kh, slot)
    assert pg_job_done(r.json()["job_id"]) == "succeeded"
    booking_id = r.json()["booking_id"]
    c = crash_then_restart("after-void-call", lambda: http(
        "POST", f"{COMMAND}/v1/bookings/{booking_id}/cancel", None, kh))
    assert c.status == 202, c.body
    assert pg_job_done(c.json()["job_id"], 90) == "succeeded"
    assert booking_row(booking_id) == ["cancelled", "voided"]
    assert no_double_moves(booking_id) == {"authorize": 1, "void": 1}
    read_model_agrees(kh, booking_id, "cancelled")
