"""The analysts' example queries in docs/read-models.md ("Example queries") cannot rot: every
```js block of that section runs in mongosh (npm, deploy/local/mongosh.sh) against the live
store, on data seeded here, and must succeed and yield documents with the fields its
`// returns: {...}` line names. Blocks whose first line is `// setup` (the rm() helper that
resolves read_model_aliases) run first, unchecked, in the same mongosh session."""
import datetime
import json
import os
import re
import subprocess
import uuid

import pytest

from conftest import MONGO_DB, MONGO_URI, ROOT, ReadModels

DOC = os.path.join(ROOT, "docs", "read-models.md")
MONGOSH = os.path.join(ROOT, "deploy", "local", "mongosh.sh")


def example_blocks():
    """(title, returns fields or None for a setup block, code) of every ```js block of the
    Example queries section."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    start = text.index("## Example queries")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end > 0 else len(text)]
    blocks = re.findall(r"```js\n(.*?)```", section, re.S)
    out = []
    for code in blocks:
        if code.startswith("// setup"):
            out.append(("setup", None, code))
            continue
        returns = re.search(r"^// returns: \{(.*)\}\s*$", code, re.M)
        assert returns, f"example without a '// returns: {{...}}' line:\n{code}"
        fields = {f.strip() for f in returns.group(1).split(",")}
        title = code.strip().splitlines()[0].lstrip("/ ").strip()
        out.append((title, fields, code))
    return out


@pytest.fixture(scope="module")
def seeded():
    """At least one document in every collection the examples read, shaped as documented."""
    db = ReadModels()  # seeds go where the aliases point, as the projector's writes do
    now = datetime.datetime.now(datetime.timezone.utc)
    day = now.strftime("%Y-%m-%d")
    u1, u2, room = (str(uuid.uuid4()) for _ in range(3))
    name = f"Ada {uuid.uuid4().hex[:6]}"
    db.user_profiles.insert_one({"_id": u1, "display_name": name,
                                 "display_name_lower": name.lower(), "bio": "", "avatar_url": "",
                                 "presence": "online", "created_at": now, "updated_at": now,
                                 "version": 1, "source": {"lsn": 1, "ts_ms": int(now.timestamp() * 1000)}})
    db.user_names.insert_one({"_id": f"{name.lower()}\x1f{u1}", "user_id": u1,
                              "display_name_lower": name.lower(), "version": 1,
                              "source": {"lsn": 1, "ts_ms": int(now.timestamp() * 1000)}})
    # today's counters: one document per day and aggregate (docs/read-models.md, daily_stats)
    db.daily_stats.update_one({"_id": f"{day}:User:{u1}"}, {
        "$setOnInsert": {"day": now.replace(hour=0, minute=0, second=0, microsecond=0),
                         "v": 1, "users_registered": 1}}, upsert=True)
    db.daily_active_users.update_one({"_id": f"{day}:{u1}"},
                                     {"$setOnInsert": {"day": day, "user_id": u1}}, upsert=True)
    db.messages.insert_one({"_id": f"{room}:{1:019d}", "message_id": str(uuid.uuid4()),
                            "room_id": room, "seq": 1, "sender_id": u1,
                            "body": "hi", "client_message_id": "x", "created_at": now,
                            "room_version": 2})
    db.user_counters.insert_one({"_id": f"{u1}:{uuid.uuid4()}", "user_id": u1, "friend_id": u2,
                                 "delta": 1, "at": 1})
    db.friends.insert_many([{"_id": f"{a}:{b}", "user_id": a, "friend_id": b,
                             "friendship_id": room, "since": now, "ended": False}
                            for a, b in ((u1, u2), (u2, u1))])
    request, event = str(uuid.uuid4()), str(uuid.uuid4())
    db.friend_requests.insert_one({"_id": request, "from_user_id": u2,
                                   "to_user_id": u1, "status": "pending", "created_at": now,
                                   "updated_at": now, "v": 1})
    db.friend_requests_by_user.insert_many([
        {"_id": f"{user}:{side}:{request}", "user_id": user, "direction": direction,
         "request_id": request, "from_user_id": u2, "to_user_id": u1, "status": "pending",
         "created_at": now, "updated_at": now, "v": 1}
        for user, side, direction in ((u1, "in", "incoming"), (u2, "out", "outgoing"))])
    micros = int(now.timestamp() * 1000) * 1000
    db.notifications.insert_one({"_id": f"{u1}:{micros:019d}:{event}", "user_id": u1,
                                 "kind": "friend_request", "actor_id": u2, "event_id": event,
                                 "request_id": request, "created_at": now,
                                 "read": False, "read_at": None})
    db.chat_rooms.insert_one({"_id": room, "kind": "group", "title": "Analysts",
                              "created_by": u1, "direct_key": None, "last_seq": 1,
                              "created_at": now, "updated_at": now, "version": 2})
    db.inbox.insert_one({"_id": f"{u1}:{room}", "user_id": u1, "room_id": room, "kind": "group",
                         "title": "Analysts", "member_ids": [u1], "last_message": None,
                         "last_activity_at": now, "last_seq": 1, "last_read_seq": 0})
    b1, b2, pay = (str(uuid.uuid4()) for _ in range(3))
    db.daily_bookings.insert_many([
        {"_id": f"{day}:Booking:{b1}", "day": day, "v": 3, "requested": 1, "confirmed": 1,
         "cancelled": 1},
        {"_id": f"{day}:Booking:{b2}", "day": day, "v": 2, "requested": 1, "confirmed": 1},
        {"_id": f"{day}:Payment:{pay}", "day": day, "v": 3, "currency": "EUR",
         "revenue_minor": 5000}])
    # an alias of a logical name nobody reads, so that the alias example has a row
    db.read_model_aliases.update_one({"_id": "analyst_example"},
                                     {"$set": {"collection": "analyst_example"}}, upsert=True)
    return name


def first_day(value):
    """The day value of a daily_stats group _id as stored (a date at midnight UTC)."""
    if isinstance(value, dict) and "$date" in value:
        value = value["$date"]
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def run_mongosh(blocks):
    """Run every block in one mongosh process; returns [{ok, docs | error}] in block order."""
    parts = ["const results = [];",
             "function run(f) { try { let r = f(); if (r && typeof r.toArray === 'function')"
             " r = r.toArray(); results.push({ok: true, docs: EJSON.serialize(r)}); }"
             " catch (e) { results.push({ok: false, error: String(e)}); } }"]
    for _, fields, code in blocks:
        if fields is None:
            parts.append(code.strip())
            parts.append("results.push({ok: true, setup: true});")
        else:
            parts.append("run(() => {\nreturn (\n" + code.strip() + "\n);\n});")
    parts.append("print('@@' + JSON.stringify(results));")
    env = dict(os.environ, HL_MONGO_URI=MONGO_URI, HL_MONGO_DB=MONGO_DB)
    out = subprocess.run(["bash", MONGOSH, "--quiet", "--eval", "\n".join(parts)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(l for l in out.stdout.splitlines() if l.startswith("@@"))
    return json.loads(line[2:])


def test_every_example_query_runs_and_returns_its_fields(seeded):
    blocks = example_blocks()
    assert len([b for b in blocks if b[1] is not None]) >= 10
    results = run_mongosh(blocks)
    assert len(results) == len(blocks)
    failures = []
    for (title, fields, code), res in zip(blocks, results):
        if fields is None:
            continue
        if not res["ok"]:
            failures.append(f"{title}: {res['error']}")
            continue
        docs = res["docs"]
        if not isinstance(docs, list) or not docs:
            failures.append(f"{title}: returned no documents")
            continue
        extra = [sorted(set(d) - fields) for d in docs if set(d) - fields]
        if extra:
            failures.append(f"{title}: fields not in its returns line: {extra[0]}")
        if not any(set(d) == fields for d in docs):
            failures.append(f"{title}: no document has exactly {sorted(fields)}; first: "
                            f"{sorted(docs[0])}")
    assert not failures, "\n".join(failures)
    # the booking examples give the right answer for today: the sums of today's daily_bookings
    # documents, computed here from the collection (the seed adds 2 confirmed, 1 cancelled and
    # 5000 EUR; other tests of the stack may add more of the same day)
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    docs = list(ReadModels().daily_bookings.find({"day": day}))
    revenue, cancelled, confirmed = {}, 0, 0
    for d in docs:
        if "revenue_minor" in d:
            revenue[d["currency"]] = revenue.get(d["currency"], 0) + d["revenue_minor"]
        if "currency" not in d:
            cancelled += d.get("cancelled", 0)
            confirmed += d.get("confirmed", 0)
    assert revenue.get("EUR", 0) >= 5000 and confirmed >= 2 and cancelled >= 1
    rev = next(r for (t, _, _), r in zip(blocks, results) if "revenue per day" in t)
    got = {d["_id"]["currency"]: d["revenue_minor"] for d in rev["docs"] if d["_id"]["day"] == day}
    assert got == revenue, (got, revenue)
    rate = next(r for (t, _, _), r in zip(blocks, results) if "cancellation rate" in t)
    today = [d for d in rate["docs"] if d["_id"] == day]
    assert len(today) == 1, rate["docs"][:5]
    assert (today[0]["cancelled"], today[0]["confirmed"]) == (cancelled, confirmed), today
    assert abs(today[0]["cancellation_rate"] - cancelled / confirmed) < 1e-9, today

    # the per-day counters are the sums of the day's daily_stats documents, each of them (a
    # $group with several $sum answers 0 for all but the first on FerretDB 1.24)
    stats = next(r for (t, _, _), r in zip(blocks, results) if "new friendships per day" in t)
    first = stats["docs"][0]
    want = {f: 0 for f in ("users_registered", "messages_sent", "friendships_formed")}
    for d in ReadModels().daily_stats.find({"day": first_day(first["_id"])}):
        for f in want:
            want[f] += d.get(f, 0)
    assert {f: first[f] for f in want} == want, (first, want)

    # the prefix search example answers exactly the first 20 "ada..." profiles by lower-cased
    # name (computed here from the store itself), the seeded one among all the matches
    search = next(r for (t, _, _), r in zip(blocks, results) if "starts with" in t)
    profiles = ReadModels().user_profiles
    matches = list(profiles.find({"display_name_lower": {"$regex": "^ada"}},
                                 {"display_name": 1, "display_name_lower": 1}))
    assert seeded in [d["display_name"] for d in matches]
    lower_of = {str(d["_id"]): d["display_name_lower"] for d in matches}
    got = [lower_of.get(str(d["_id"])) for d in search["docs"]]
    assert None not in got, search["docs"]
    assert len(got) == min(20, len(matches)), (len(got), len(matches))
    # ties (equal lower-cased names) may come in any order: compare the sorted names
    assert got == sorted(got) and got == sorted(lower_of.values())[:20], got
