"""The shape of a read-model document does not depend on the write path that inserted it
(issue 15). The projector writes a batch's operations of a collection as unordered bulks with
one statement per guarded upsert, and falls back to ordered bulks in which a guarded upsert is
two statements (an ensure step with $setOnInsert, then the guarded update; plan_exec.c). On
FerretDB 1.24 those two insert different documents when the update sets a field to null: the
single statement stores the null, $setOnInsert leaves the field out. So the fast path splits
exactly those upserts as the ordered path does; these tests pin the FerretDB behaviour that
depends on and check a document the projector inserted against the ordered path's."""
import uuid

from bson import SON
from bson.raw_bson import RawBSONDocument
import pymongo

from conftest import MONGO_URI, PROJECTOR, eventually, metric_sum, new_user
from pj_helpers import User, befriend, coll, send

def guard(version):
    """The guard of a CDC row's upsert: the stored version is absent or older (plan.h)."""
    return [("$or", [{"version": {"$exists": False}}, {"version": {"$lt": version}}])]


GUARD = guard(3)


def scratch():
    client = pymongo.MongoClient(MONGO_URI, document_class=RawBSONDocument)
    return client, client[f"hl_shape_{uuid.uuid4().hex[:10]}"]


def ordered_path(c, _id, fields):
    """The ordered path's two statements for a guarded upsert of $set fields at
    fields["version"] (plan_exec.c split_guarded)."""
    c.update_one({"_id": _id}, {"$setOnInsert": fields}, upsert=True)
    c.update_one(SON([("_id", _id)] + guard(fields["version"])), {"$set": fields})


def test_ferretdb_keeps_a_set_null_on_insert_and_drops_a_set_on_insert_null():
    client, d = scratch()
    try:
        with_null = SON([("kind", "direct"), ("title", None), ("direct_key", None), ("version", 3)])
        d.single.update_one(SON([("_id", "a")] + GUARD), {"$set": with_null}, upsert=True)
        ordered_path(d.ordered, "a", with_null)
        single, ordered = d.single.find_one({"_id": "a"}), d.ordered.find_one({"_id": "a"})
        # the single statement stores the nulls, the ordered path does not: the fast path
        # must not use the single statement for such an update
        assert dict(single) == {"_id": "a", "direct_key": None, "kind": "direct", "title": None,
                                "version": 3}, dict(single)
        assert dict(ordered) == {"_id": "a", "kind": "direct", "version": 3}, dict(ordered)
        # without a null, the two insert the same bytes (fields sorted either way)
        fields = SON([("version", 3), ("b", 1), ("a", 2)])
        d.single.update_one(SON([("_id", "b")] + GUARD),
                            SON([("$set", fields), ("$max", {"m": 5}), ("$inc", {"c": 1})]),
                            upsert=True)
        d.ordered.update_one({"_id": "b"}, {"$setOnInsert": SON(list(fields.items()) +
                                                                [("m", 5), ("c", 1)])},
                             upsert=True)
        assert d.single.find_one({"_id": "b"}).raw == d.ordered.find_one({"_id": "b"}).raw
    finally:
        client.drop_database(d.name)
        client.close()


def test_ferretdb_drops_a_set_on_insert_null_in_the_single_statement_too():
    # a message's inbox upsert: $set, $max and {$setOnInsert: {kind: null}} (event_models.c);
    # the single statement and the ordered path's two insert the same bytes, so the fast path
    # need not split it (plan_exec.c writes_null looks past $setOnInsert)
    client, d = scratch()
    try:
        guard_seq = [("$or", [{"last_seq": {"$exists": False}}, {"last_seq": {"$lt": 5}}])]
        st = SON([("user_id", "u"), ("room_id", "r"), ("last_message", SON([("body", "hi")])),
                  ("last_seq", 5)])
        mx = SON([("last_read_seq", 0), ("n", 2)])
        d.single.update_one(SON([("_id", "a")] + guard_seq),
                            SON([("$set", st), ("$max", mx), ("$setOnInsert", {"kind": None})]),
                            upsert=True)
        d.ordered.update_one({"_id": "a"}, {"$setOnInsert": SON(list(st.items()) + list(mx.items())
                                                                + [("kind", None)])}, upsert=True)
        d.ordered.update_one(SON([("_id", "a")] + guard_seq), SON([("$set", st), ("$max", mx)]))
        single, ordered = d.single.find_one({"_id": "a"}), d.ordered.find_one({"_id": "a"})
        assert "kind" not in dict(single), dict(single)
        assert single.raw == ordered.raw, (dict(single), dict(ordered))
    finally:
        client.drop_database(d.name)
        client.close()


def store_statements(model):
    """The write statements the projector sent to a read model's live collection: the metric is
    labelled with the physical name, which a rebuild (e2e_query_rebuild, earlier in the suite)
    moves to a shadow collection (read_model_aliases)."""
    return metric_sum(PROJECTOR, "hl_projector_store_statements_total",
                      f'collection="{coll(model).name}"')


def test_a_message_costs_one_inbox_statement_per_member():
    a, b = User("Ada Shape"), User("Bob Shape")
    befriend(a, b)
    created = a.call("POST", "/v1/chat-rooms", {"member_ids": [b.id]})
    room, watermarks = created["room_id"], coll("watermarks")

    def projected(version):
        # a batch's watermarks are written after its writer threads have sent (and counted)
        # every model write (plan_exec.c pj_plans_execute): once the room's event watermark is
        # at version, that event's inbox statements are all in the metric
        return watermarks.find_one({"_id": f"ev.ChatRoom:{room}", "v": {"$gte": version}})

    eventually(lambda: projected(created["version"]), 60, "the room's creation projected")
    before = store_statements("inbox")
    sent = send(a, room, "one statement each")
    eventually(lambda: projected(sent["version"]), 60, "the message projected")
    assert coll("inbox").count_documents({"room_id": room, "last_seq": sent["seq"]}) == 2
    # on the fast path each member's row is one guarded upsert; with the upsert split (an
    # ensure step, then the guarded update) it was 4
    assert store_statements("inbox") - before == 2


def test_a_session_the_projector_inserted_has_the_ordered_paths_bytes():
    # a login's sessions row has revoked_at null: its guarded upsert writes a null
    user_id, _, _, _ = new_user("Shape")
    raw = pymongo.MongoClient(MONGO_URI, document_class=RawBSONDocument)
    live = eventually(lambda: raw[coll("sessions").database.name][coll("sessions").name]
                      .find_one({"user_id": user_id}), 60, "the session projected")
    doc = live.raw
    live = dict(pymongo.MongoClient(MONGO_URI)[coll("sessions").database.name]
                [coll("sessions").name].find_one({"user_id": user_id}))
    assert "revoked_at" not in live, live
    # the same fields through the ordered path's two statements
    client, d = scratch()
    try:
        fields = SON((k, v) for k, v in live.items() if k != "_id")
        fields["revoked_at"] = None
        ordered_path(d.s, live["_id"], fields)
        assert d.s.find_one({"_id": live["_id"]}).raw == doc
    finally:
        client.drop_database(d.name)
        client.close()
        raw.close()
