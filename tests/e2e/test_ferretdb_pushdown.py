"""FerretDB patch 4 (deploy/local/mongo.sh): _id $in lists and _id string ranges are read through
the index on the unescaped _id, and give exactly the documents MongoDB's semantics give. Patch 7:
a range sorted by _id with a limit is sorted and limited by SQLite, with the same result.

The _ids are chosen to break every shortcut: characters that encoding/json escapes (quote,
backslash, control characters, <, >, &, U+2028/2029), characters just below and above the
closing quote, multi-byte UTF-8, the empty string, prefixes of one another, and non-string _ids
(numbers, ObjectIds, a document) that a string bound must never return. Expected results come
from a Python model: only strings match string bounds, compared by their UTF-8 bytes."""
import itertools
import os
import uuid

import pytest
from bson import ObjectId
from pymongo import MongoClient

MONGO_URI = f"mongodb://127.0.0.1:{os.environ['HL_MONGO_PORT']}/"

STRINGS = ["", "a", "a\x00", "a\x01", "a\n", "a ", "a!", 'a"', "a#", "a&", "a<", "a>", "a\\",
           "a]", "a~", "a\x7f", "a\u00e9", "a\u2028", "a\u2029", "a\ufffd", "a\U0001f600",
           "ab", "ab:", "ab:0", "ab;", "ab\\:", 'ab":', "abc", "b", "room:0000000000000000001",
           "room:0000000000000000002", "room:0000000000000000010", "room;", "room9", "\u00e9",
           "\U0001f600x"]
OTHERS = [1, 2.5, -7, ObjectId("0123456789abcdef01234567"), {"k": "a"}]


def key(s):
    return s.encode("utf-8")


@pytest.fixture(scope="module")
def coll():
    client = MongoClient(MONGO_URI, serverSelectionTimeoutMS=10000)
    db = client[f"hl_pushdown_{uuid.uuid4().hex[:8]}"]
    c = db["ids"]
    c.insert_many([{"_id": s, "n": i} for i, s in enumerate(STRINGS)] +
                  [{"_id": o, "n": -1} for o in OTHERS])
    yield c
    client.drop_database(db.name)
    client.close()


def got(c, flt):
    return sorted((d["_id"] for d in c.find(flt) if isinstance(d["_id"], str)), key=key), \
        [d["_id"] for d in c.find(flt) if not isinstance(d["_id"], str)]


OPS = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
       "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}


def test_ranges_match_mongodb_string_order(coll):
    bounds = STRINGS + ["a\x00\x00", "ab:\uffff", "room:", "room:0000000000000000002\x00", "zz"]
    checked = 0
    for lo_op, hi_op in [("$gte", "$lt"), ("$gt", "$lte"), ("$gte", "$lte"), ("$gt", "$lt")]:
        for lo, hi in itertools.product(bounds, repeat=2):
            if key(lo) > key(hi):
                continue
            strs, others = got(coll, {"_id": {lo_op: lo, hi_op: hi}})
            want = sorted((s for s in STRINGS if OPS[lo_op](key(s), key(lo))
                           and OPS[hi_op](key(s), key(hi))), key=key)
            assert (strs, others) == (want, []), (lo_op, lo, hi_op, hi)
            checked += 1
    for op, b in itertools.product(OPS, bounds):
        strs, others = got(coll, {"_id": {op: b}})
        assert (strs, others) == (sorted((s for s in STRINGS if OPS[op](key(s), key(b))),
                                         key=key), []), (op, b)
    assert checked > 1000


def test_in_lists_and_mixed_filters(coll):
    for n in range(0, len(STRINGS), 3):
        ids = STRINGS[n:n + 5] + ["absent", "a\u2028\u2028"]
        strs, others = got(coll, {"_id": {"$in": ids}})
        assert (strs, others) == (sorted(set(STRINGS[n:n + 5]), key=key), [])
    # non-string elements leave the scan in charge and still match
    strs, others = got(coll, {"_id": {"$in": ["a", 1, ObjectId("0123456789abcdef01234567")]}})
    assert strs == ["a"] and sorted(map(str, others)) == ["0123456789abcdef01234567", "1"]
    # the rest of the filter still applies to what the index returns
    assert [d["_id"] for d in coll.find({"_id": {"$gte": "a", "$lt": "b"}, "n": 1})] == ["a"]
    assert coll.count_documents({"_id": {"$gte": "a", "$lt": "b", "$ne": "ab"}}) == \
        sum(1 for s in STRINGS if b"a" <= key(s) < b"b") - 1
    assert [d["_id"] for d in coll.find({"_id": {"$in": ["a", "ab"], "$nin": ["ab"]}})] == ["a"]
    # updates and deletes by range or list see the same documents
    r = coll.update_many({"_id": {"$gte": "room:", "$lt": "room;"}}, {"$set": {"hit": True}})
    assert r.matched_count == 3
    assert sorted(d["_id"] for d in coll.find({"hit": True})) == [
        "room:0000000000000000001", "room:0000000000000000002", "room:0000000000000000010"]
    assert coll.delete_many({"_id": {"$in": ["a\\", 'a"', "nope"]}}).deleted_count == 2
    coll.insert_many([{"_id": "a\\", "n": 0}, {"_id": 'a"', "n": 0}])


def test_plan_uses_the_unescaped_id_index(coll):
    for flt in [{"_id": {"$gte": "a", "$lt": "b"}}, {"_id": {"$in": ["a", "b"]}},
                {"_id": {"$lte": "room;"}}]:
        plan = coll.database.command("explain", {"find": coll.name, "filter": flt})
        text = " ".join(plan["queryPlanner"]["Plan"])
        assert "__hl_id_text" in text and "USING INDEX" in text, (flt, text)
    plan = coll.database.command("explain", {"find": coll.name, "filter": {"n": 1}})
    assert "__hl_id_text" not in " ".join(plan["queryPlanner"]["Plan"])


def test_range_sorted_by_id_with_limit(coll):
    """Patch 7: {_id: range} sorted by {_id: +-1} with a limit gives MongoDB's first n, and the
    plan shows SQLite doing the ORDER BY on the index (no temp B-tree for the sort)."""
    bounds = ["", "a", "a\x00", "a<", "a\\", "ab", "ab:", "room:", "room;", "zz"]
    checked = 0
    for lo, hi in itertools.product(bounds, repeat=2):
        if key(lo) > key(hi):
            continue
        inside = sorted((s for s in STRINGS if key(lo) <= key(s) < key(hi)), key=key)
        for direction, limit in itertools.product((1, -1), (1, 2, 3, 7, 100)):
            docs = list(coll.find({"_id": {"$gte": lo, "$lt": hi}}).sort("_id", direction)
                        .limit(limit))
            want = (inside if direction == 1 else inside[::-1])[:limit]
            assert [d["_id"] for d in docs] == want, (lo, hi, direction, limit)
            checked += 1
    # with another condition, a skip, or another sort key the limit stays in FerretDB: same answers
    assert [d["_id"] for d in coll.find({"_id": {"$gte": "a", "$lt": "b"}, "n": {"$gte": 0}})
            .sort("_id", -1).limit(2)] == sorted((s for s in STRINGS if b"a" <= key(s) < b"b"),
                                                 key=key)[::-1][:2]
    assert [d["_id"] for d in coll.find({"_id": {"$gte": "a", "$lt": "b"}}).sort("_id", 1)
            .skip(1).limit(2)] == sorted((s for s in STRINGS if b"a" <= key(s) < b"b"),
                                         key=key)[1:3]
    assert checked > 200
    plan = coll.database.command("explain", {"find": coll.name,
                                             "filter": {"_id": {"$gte": "a", "$lt": "b"}},
                                             "sort": {"_id": -1}, "limit": 3})
    text = " ".join(plan["queryPlanner"]["Plan"])
    assert plan["sortPushdown"] and plan["limitPushdown"], plan
    assert "__hl_id_text" in text and "TEMP B-TREE" not in text, text
