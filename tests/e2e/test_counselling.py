"""Counselling and payments end to end (SPEC §9, issue 12): counsellors, slots, the booking saga
against the payment simulator, jobs, cancellation, completion, reviews and the query routes.
Real servers only; the simulator stands in for the payment provider."""
import concurrent.futures
import datetime

import pytest

from conftest import COMMAND, QUERY, eventually, http, new_user, psql
from counselling_helpers import (age_booking, book, booking_row, clear_faults, faults, future,
                                 iso, job_done, ledger, new_counsellor, no_faults, operator, ops,
                                 publish, restart_command_server, role, slot_status)


@pytest.fixture(autouse=True)
def _no_faults(no_faults):
    yield


def confirmed_booking(operator, hours_ahead=72, pm="pm_card_visa"):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(hours=hours_ahead))[0]
    kid, kh, _, _ = new_user("Client")
    r = book(kh, slot, pm)
    assert r.status == 202, r.body
    j = job_done(kh, r.json()["job_id"])
    return dict(counsellor=cid, ch=ch, client=kid, kh=kh, slot=slot,
                booking=r.json()["booking_id"], job=j)


def test_happy_path_confirmed_booking_with_room_and_notifications(operator):
    cid, ch = new_counsellor(operator, price=7500, currency="EUR")
    slot = publish(ch, future(days=3))[0]
    kid, kh, _, _ = new_user("Client")
    r = book(kh, slot)
    assert r.status == 202, r.body
    body = r.json()
    assert set(body) >= {"booking_id", "job_id", "status", "consistency_token"}
    assert r.headers["Location"] == f"/v1/jobs/{body['job_id']}"
    j = job_done(kh, body["job_id"])
    assert j["status"] == "succeeded", j
    assert j["kind"] == "booking" and j["error"] is None
    assert [s["name"] for s in j["steps"]] == [
        "slot-held", "payment-intent-created", "payment-authorized", "booking-confirmed"]
    assert all(s["status"] == "succeeded" for s in j["steps"])
    room = j["result"]["room_id"]
    assert ops(body["booking_id"]) == ["authorize"]
    assert ledger(body["booking_id"])[0]["amount"] == 7500
    b = eventually(lambda: (lambda r: r.json() if r.status == 200 and
                            r.json()["status"] == "confirmed" else None)(
        http("GET", f"{QUERY}/v1/bookings/{body['booking_id']}", None, kh)), 30, "booking")
    assert b["room_id"] == room and b["price"] == {"amount_minor": 7500, "currency": "EUR"}
    assert b["payment_status"] in ("authorized", None)
    # the counselling room of the two, without friendship, and a notification for each
    for headers in (kh, ch):
        rooms = eventually(lambda: [x for x in http("GET", f"{QUERY}/v1/chat-rooms", None,
                                                    headers).json()["items"]
                                    if x["room_id"] == room], 30, "counselling room")
        assert rooms[0]["kind"] == "counselling"
        assert {m["id"] for m in rooms[0]["members"]} == {cid, kid}
        notes = eventually(lambda: [n for n in http("GET", f"{QUERY}/v1/notifications", None,
                                                    headers).json()["items"]
                                    if n["kind"] == "booking_confirmed"], 30, "notification")
        assert notes
    msg = http("POST", f"{COMMAND}/v1/chat-rooms/{room}/messages",
               {"body": "hello", "client_message_id": "c-1"}, kh)
    assert msg.status == 201, msg.body
    assert slot_status(slot) == "booked"
    # both parties see it in their lists
    assert eventually(lambda: [x for x in http("GET", f"{QUERY}/v1/bookings?role=counsellor",
                                               None, ch).json()["items"]
                               if x["booking_id"] == body["booking_id"]], 30, "counsellor list")


def test_read_all_marks_booking_notifications_read_like_any_other(operator):
    """A read-all (POST /v1/notifications/read {all}) covers booking_confirmed notifications as
    it covers friend requests: both read, with the same read_at (the projector's read-all
    marks also cover one applied after the mark: tests/unit/test_pj_models.c)."""
    c = confirmed_booking(operator)
    fid, fh, _, _ = new_user("Friend")
    fr = http("POST", f"{COMMAND}/v1/friend-requests", {"to_user_id": c["client"]}, fh)
    assert fr.status == 201, fr.body

    def unread_kinds():
        items = http("GET", f"{QUERY}/v1/notifications?unread=true", None, c["kh"]).json()["items"]
        kinds = sorted(n["kind"] for n in items)
        return kinds if kinds == ["booking_confirmed", "friend_request"] else None
    eventually(unread_kinds, 30, "both notifications unread")
    r = http("POST", f"{COMMAND}/v1/notifications/read", {"all": True}, c["kh"])
    assert r.status == 200, r.body
    eventually(lambda: http("GET", f"{QUERY}/v1/notifications?unread=true", None,
                            c["kh"]).json()["items"] == [], 30, "no unread notification")
    items = http("GET", f"{QUERY}/v1/notifications", None, c["kh"]).json()["items"]
    assert sorted(n["kind"] for n in items) == ["booking_confirmed", "friend_request"]
    assert all(n["read"] is True for n in items), items
    assert len({n["read_at"] for n in items}) == 1, items
    # the counsellor's own booking_confirmed is not the client's to mark
    theirs = http("GET", f"{QUERY}/v1/notifications?unread=true", None, c["ch"]).json()["items"]
    assert [n["kind"] for n in theirs] == ["booking_confirmed"]


def test_fifty_clients_racing_for_one_slot_exactly_one_holds(operator):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(days=5))[0]
    clients = [new_user(f"Racer {i}")[1] for i in range(50)]
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda h: book(h, slot), clients))
    statuses = sorted(a.status for a in answers)
    assert statuses.count(202) == 1, statuses
    assert statuses.count(409) == 49, statuses
    assert all(a.json()["type"].endswith(":slot-unavailable") for a in answers if a.status == 409)
    assert psql(f"SELECT count(*) FROM bookings WHERE slot_id = '{slot}'") == ["1"]


@pytest.mark.parametrize("pm,code", [("pm_card_chargeDeclined", "generic_decline"),
                                     ("pm_card_chargeDeclinedInsufficientFunds",
                                      "insufficient_funds")])
def test_decline_fails_the_booking_and_opens_the_slot(operator, pm, code):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(days=4))[0]
    kid, kh, _, _ = new_user("Client")
    r = book(kh, slot, pm)
    assert r.status == 202
    j = job_done(kh, r.json()["job_id"])
    assert j["status"] == "failed"
    assert j["error"]["type"] == "urn:hearlers:problem:payment-declined"
    assert booking_row(r.json()["booking_id"]) == ["failed", "declined"]
    assert slot_status(slot) == "open"
    assert "authorize" not in ops(r.json()["booking_id"])
    # the slot is bookable again, and shows as open on the query side
    eventually(lambda: [s for s in http("GET", f"{QUERY}/v1/counsellors/{cid}/slots").json()
                        ["items"] if s["slot_id"] == slot], 30, "slot open again")
    r2 = book(new_user("Second")[1], slot)
    assert r2.status == 202, r2.body


def test_decline_after_authorization_is_voided(operator):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(days=4))[0]
    kid, kh, _, _ = new_user("Client")
    faults(decline_after_auth=1)
    r = book(kh, slot)
    j = job_done(kh, r.json()["job_id"])
    assert j["status"] == "failed"
    assert ops(r.json()["booking_id"]) == ["authorize", "void"]
    assert slot_status(slot) == "open"


def test_provider_5xx_then_success_authorizes_once(operator):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(days=4))[0]
    kid, kh, _, _ = new_user("Client")
    faults(fail_5xx=3, path="/confirm")
    r = book(kh, slot)
    j = job_done(kh, r.json()["job_id"])
    assert j["status"] == "succeeded", j
    assert ops(r.json()["booking_id"]) == ["authorize"]
    assert booking_row(r.json()["booking_id"]) == ["confirmed", "authorized"]


def test_timeouts_beyond_the_deadline_are_compensated(operator):
    cid, ch = new_counsellor(operator)
    slot = publish(ch, future(days=4))[0]
    kid, kh, _, _ = new_user("Client")
    restart_command_server(HL_SAGA_DEADLINE_MS=2000, HL_PAYMENT_TIMEOUT_MS=300)
    try:
        # every confirm is performed (the card is authorized) but its answer comes too late
        faults(timeouts=1000, timeout_ms=700, path="/confirm")
        r = book(kh, slot)
        assert r.status == 202, r.body
        j = job_done(kh, r.json()["job_id"], 60)
        assert j["status"] == "failed", j
        assert j["error"]["type"] == "urn:hearlers:problem:payment-provider-unavailable"
        # authorized once (the same idempotency key on every retry), then voided
        assert ops(r.json()["booking_id"]) == ["authorize", "void"]
        assert booking_row(r.json()["booking_id"])[0] == "failed"
        assert slot_status(slot) == "open"
    finally:
        clear_faults()
        restart_command_server()


def test_client_cancel_24h_or_more_before_refunds_and_reopens(operator):
    c = confirmed_booking(operator, hours_ahead=72)
    r = http("POST", f"{COMMAND}/v1/bookings/{c['booking']}/cancel", None, c["kh"])
    assert r.status == 202, r.body
    assert r.json()["refund"] == "full"
    j = job_done(c["kh"], r.json()["job_id"])
    assert j["status"] == "succeeded" and j["result"]["refund"] == "full"
    assert ops(c["booking"]) == ["authorize", "void"]
    assert booking_row(c["booking"]) == ["cancelled", "voided"]
    assert slot_status(c["slot"]) == "open"
    again = http("POST", f"{COMMAND}/v1/bookings/{c['booking']}/cancel", None, c["kh"])
    assert again.status == 409


def test_client_cancel_less_than_24h_before_is_charged(operator):
    c = confirmed_booking(operator, hours_ahead=2)
    r = http("POST", f"{COMMAND}/v1/bookings/{c['booking']}/cancel", None, c["kh"])
    assert r.status == 202 and r.json()["refund"] == "none"
    j = job_done(c["kh"], r.json()["job_id"])
    assert j["status"] == "succeeded" and j["result"]["refund"] == "none"
    assert ops(c["booking"]) == ["authorize", "capture"]
    assert booking_row(c["booking"]) == ["cancelled", "captured"]
    assert slot_status(c["slot"]) == "withdrawn"


def test_counsellor_cancel_always_refunds(operator):
    c = confirmed_booking(operator, hours_ahead=2)
    r = http("POST", f"{COMMAND}/v1/bookings/{c['booking']}/cancel", None, c["ch"])
    assert r.status == 202 and r.json()["refund"] == "full"
    j = job_done(c["ch"], r.json()["job_id"])
    assert j["status"] == "succeeded"
    assert ops(c["booking"]) == ["authorize", "void"]
    assert booking_row(c["booking"]) == ["cancelled", "voided"]


def test_complete_captures_once_and_review_once_after_completion(operator):
    c = confirmed_booking(operator, hours_ahead=3)
    url = f"{COMMAND}/v1/bookings/{c['booking']}"
    early = http("POST", f"{url}/complete", None, c["ch"])
    assert early.status == 409 and early.json()["type"].endswith(":session-not-ended")
    review = http("POST", f"{url}/review", {"rating": 5}, c["kh"])
    assert review.status == 409 and review.json()["type"].endswith(":booking-not-completed")
    age_booking(c["booking"])
    assert http("POST", f"{url}/complete", None, c["kh"]).status == 403  # the client may not
    r = http("POST", f"{url}/complete", None, c["ch"])
    assert r.status == 202, r.body
    j = job_done(c["ch"], r.json()["job_id"])
    assert j["status"] == "succeeded", j
    assert ops(c["booking"]) == ["authorize", "capture"]
    assert booking_row(c["booking"]) == ["completed", "captured"]
    assert http("POST", f"{url}/complete", None, c["ch"]).status == 409
    assert http("POST", f"{url}/review", {"rating": 4}, c["ch"]).status == 403
    assert http("POST", f"{url}/review", {"rating": 6}, c["kh"]).status == 422
    ok = http("POST", f"{url}/review", {"rating": 4, "comment": "kind"}, c["kh"])
    assert ok.status == 201, ok.body
    twice = http("POST", f"{url}/review", {"rating": 1}, c["kh"])
    assert twice.status == 409 and twice.json()["type"].endswith(":already-reviewed")
    assert ops(c["booking"]) == ["authorize", "capture"]
    prof = eventually(lambda: (lambda d: d if d.get("rating", {}).get("count") == 1 else None)(
        http("GET", f"{QUERY}/v1/counsellors/{c['counsellor']}").json()), 30, "rating")
    assert prof["rating"]["average"] == 4.0


def test_only_an_operator_verifies_and_only_verified_counsellors_are_booked(operator):
    cid, ch = new_counsellor(None)
    slot = publish(ch, future(days=2))[0]
    kid, kh, kemail, _ = new_user("Client")
    r = book(kh, slot)
    assert r.status == 409 and r.json()["type"].endswith(":counsellor-not-verified")
    denied = http("POST", f"{COMMAND}/v1/counsellors/{cid}/verify", None, kh)
    assert denied.status == 403 and denied.json()["type"].endswith(":not-operator")
    assert http("POST", f"{COMMAND}/v1/counsellors/{cid}/verify", None, operator).status == 200
    assert book(kh, slot).status == 202
    # a role granted and revoked from the command line only
    role("grant-role", kemail)
    other, oh = new_counsellor(None)
    assert http("POST", f"{COMMAND}/v1/counsellors/{other}/verify", None, kh).status == 200
    role("revoke-role", kemail)
    third, _ = new_counsellor(None)
    assert http("POST", f"{COMMAND}/v1/counsellors/{third}/verify", None, kh).status == 403


def test_foreign_bookings_and_jobs_are_refused(operator):
    c = confirmed_booking(operator)
    sid, sh, _, _ = new_user("Stranger")
    assert http("GET", f"{QUERY}/v1/bookings/{c['booking']}", None, sh).status == 403
    assert http("GET", f"{QUERY}/v1/jobs/{c['job']['job_id']}", None, sh).status == 403
    assert http("GET", f"{QUERY}/v1/jobs/{c['job']['job_id']}").status == 401
    # a booking that exists but is not the caller's: 403 on the command side too (SPEC §2)
    for verb, body in (("cancel", None), ("complete", None), ("review", {"rating": 5})):
        r = http("POST", f"{COMMAND}/v1/bookings/{c['booking']}/{verb}", body, sh)
        assert r.status == 403 and r.json()["type"].endswith(":not-a-party"), (verb, r.body)
    unknown = "01a23775-0000-7000-8000-000000000000"
    for verb, body in (("cancel", None), ("complete", None), ("review", {"rating": 5})):
        r = http("POST", f"{COMMAND}/v1/bookings/{unknown}/{verb}", body, sh)
        assert r.status == 404 and r.json()["type"].endswith(":booking-not-found"), (verb, r.body)
    assert http("GET", f"{QUERY}/v1/bookings/{unknown}", None, sh).status == 404
    assert http("GET", f"{QUERY}/v1/jobs/{unknown}", None, sh).status == 404
    items = http("GET", f"{QUERY}/v1/bookings?role=client", None, sh).json()["items"]
    assert items == []


def test_slots_and_profiles_are_validated(operator):
    cid, ch = new_counsellor(operator)
    t = future(days=1)
    publish(ch, t)
    overlap = http("POST", f"{COMMAND}/v1/counsellors/me/slots",
                   {"slots": [{"starts_at": iso(t + datetime.timedelta(minutes=10))}]}, ch)
    assert overlap.status == 409 and overlap.json()["type"].endswith(":slot-overlap")
    past = http("POST", f"{COMMAND}/v1/counsellors/me/slots",
                {"slots": [{"starts_at": "2020-01-01T10:00:00Z"}]}, ch)
    assert past.status == 422
    far = http("POST", f"{COMMAND}/v1/counsellors/me/slots",
               {"slots": [{"starts_at": future(days=91).strftime("%Y-%m-%dT%H:%M:%SZ")}]}, ch)
    assert far.status == 422
    _, uh, _, _ = new_user("Someone")
    for bad in ({"specialties": ["astrology"]}, {"languages": ["english!"]},
                {"currency": "eur"}, {"session_minutes": 45}, {"price_minor": 0}):
        body = {"headline": "x", "specialties": ["grief"], "languages": ["en"],
                "price_minor": 100, "currency": "EUR", "session_minutes": 30}
        body.update(bad)
        r = http("POST", f"{COMMAND}/v1/counsellors", body, uh)
        assert r.status == 422, (bad, r.body)
    dup = http("POST", f"{COMMAND}/v1/counsellors",
               {"headline": "x", "specialties": ["grief"], "languages": ["en"],
                "price_minor": 100, "currency": "EUR", "session_minutes": 30}, ch)
    assert dup.status == 409
    upd = http("PATCH", f"{COMMAND}/v1/counsellors/me", {"price_minor": 6100}, ch)
    assert upd.status == 200, upd.body
    # withdraw an open slot
    s2 = publish(ch, future(days=6))[0]
    assert http("DELETE", f"{COMMAND}/v1/counsellors/me/slots/{s2}", None, ch).status == 200
    assert http("DELETE", f"{COMMAND}/v1/counsellors/me/slots/{s2}", None, ch).status == 409


def test_directory_filters_rating_and_next_open_slot(operator):
    cid, ch = new_counsellor(operator, price=3100, currency="CHF", specialties=("grief", "trauma"),
                             languages=("de-CH", "fr"))
    t = future(days=8)
    slot = publish(ch, t)[0]

    def listed(query):
        ids = set()
        cursor = None
        for _ in range(50):
            r = http("GET", f"{QUERY}/v1/counsellors?{query}&limit=100" +
                     (f"&cursor={cursor}" if cursor else ""))
            assert r.status == 200, r.body
            for item in r.json()["items"]:
                # listed with its next open slot (the slots may be projected a moment later)
                if item["counsellor_id"] != cid or (item["next_open_slot"] or {}).get(
                        "slot_id") == slot:
                    ids.add(item["counsellor_id"])
            cursor = r.json()["next_cursor"]
            if not cursor:
                return ids
        return ids

    eventually(lambda: cid in listed("specialty=grief"), 30, "directory")
    assert cid in listed("language=de-ch&max_price=3100")
    assert cid not in listed("max_price=3099")
    assert cid not in listed("specialty=career")
    window = f"available_from={t.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    assert cid in listed(window + "&available_to=" +
                         future(days=9).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert cid not in listed("available_to=" + future(days=2).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert http("GET", f"{QUERY}/v1/counsellors?max_price=-1").status == 400
    assert http("GET", f"{QUERY}/v1/counsellors?available_from=soon").status == 400
