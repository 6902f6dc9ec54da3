"""GET /v1/users?q= through the real stack: commands → PostgreSQL → Debezium → projector
(user_profiles and user_names) → query server. The search reads one _id range of the user_names
read model (docs/read-models.md) and FerretDB reaches it through its _id index; renames make a
user findable by the new name only. Reads carry the write's X-Consistency-Token (no sleeps)."""
import uuid

from conftest import COMMAND, all_pages, http, new_visible_user, read
from pj_helpers import coll

SEP = "\x1f"  # HL_USER_NAME_SEP: "<display_name_lower>\x1f<user_id>"


def pages(q, headers, limit, token=None):
    """Every page of a search; returns (items, number of pages)."""
    return all_pages(lambda url: read(url, headers, token), f"/v1/users?q={q}", limit,
                     max_pages=50)




def test_prefix_paging_and_renames():
    tag = uuid.uuid4().hex[:8]
    # names in the order the search returns them: display_name_lower, then user id; "ann2" after
    # "ann smith" (the key separator sorts below every printable byte)
    names = [f"Srch{tag} Ann", f"srch{tag} ann smith", f"SRCH{tag} Ann2", f"Srch{tag} Bo",
             f"Srch{tag} bo", f"Srch{tag}.x", f"Srch{tag}\u00e9"]
    users = {}
    token = None
    for n in names:
        uid, headers, token = new_visible_user(n)
        users[uid] = (n, headers)
    me = next(iter(users.values()))[1]

    want = sorted(users, key=lambda u: (users[u][0].lower().encode(), u))
    for limit in (1, 2, 3, 100):
        items, n = pages(f"srch{tag}", me, limit, token)
        assert [i["id"] for i in items] == want, limit  # each once, in order
        assert n == -(-len(want) // limit)
        assert all(i["display_name"] == users[i["id"]][0] for i in items)
        assert {"id", "display_name", "bio", "avatar_url", "presence", "created_at",
                "version"} == set(items[0])
    # case-insensitive prefix, other prefixes
    items, _ = pages(f"SRCH{tag}%20ANN", me, 20, token)
    assert [i["display_name"] for i in items] == names[:3]
    items, _ = pages(f"srch{tag}%20bo", me, 20, token)
    assert len(items) == 2
    items, _ = pages(f"srch{tag}%C3%A9", me, 20, token)
    assert [i["display_name"] for i in items] == [names[-1]]
    assert read(f"/v1/users?q=nosuch{tag}", me) == {"items": [], "next_cursor": None}

    # a rename: findable by the new name, not by the old one
    ann = want[0]
    renamed = f"Zsrch{tag} Renamed"
    r = http("PATCH", f"{COMMAND}/v1/users/me", {"display_name": renamed}, users[ann][1])
    assert r.status == 200, r.body
    t = r.headers["X-Consistency-Token"]
    assert [i["id"] for i in read(f"/v1/users?q=zsrch{tag}", me, t)["items"]] == [ann]
    old, _ = pages(f"srch{tag}", me, 2, t)
    assert ann not in [i["id"] for i in old]
    assert [i["id"] for i in old] == want[1:]
    # the projector removed the old key (users has REPLICA IDENTITY FULL: the update carried
    # its before image) and wrote the new one
    keys = sorted(d["_id"] for d in coll("user_names").find({"user_id": ann}))
    assert keys == [f"zsrch{tag} renamed{SEP}{ann}"]
    # and renaming back makes it findable by the old name again
    r = http("PATCH", f"{COMMAND}/v1/users/me", {"display_name": names[0]}, users[ann][1])
    assert r.status == 200, r.body
    t = r.headers["X-Consistency-Token"]
    items, _ = pages(f"srch{tag}", me, 2, t)
    assert [i["id"] for i in items] == want
    assert read(f"/v1/users?q=zsrch{tag}", me, t)["items"] == []


def test_stale_keys_are_dropped_and_pages_refilled():
    """Keys the projector could not remove (a rename seen without its before image) are left
    out by the query server, which reads further pages of keys to fill the answer."""
    tag = uuid.uuid4().hex[:8]
    uid, me, token = new_visible_user(f"Stale{tag} Zed")
    names = coll("user_names")
    # 12 stale keys of that user sort before its live key
    names.insert_many([{"_id": f"stale{tag} a{i:02d}{SEP}{uid}", "user_id": uid,
                        "display_name_lower": f"stale{tag} a{i:02d}", "version": 0}
                       for i in range(12)])
    # a key of a user that has no profile
    ghost = str(uuid.uuid4())
    names.insert_one({"_id": f"stale{tag} b{SEP}{ghost}", "user_id": ghost,
                      "display_name_lower": f"stale{tag} b", "version": 1})
    # limit 5: six keys a round; the third round reaches the live key
    body = read(f"/v1/users?q=stale{tag}&limit=5", me)
    assert [i["id"] for i in body["items"]] == [uid] and body["next_cursor"] is None
    # limit 1: two keys a round, four rounds (QS_SEARCH_ROUNDS): the first answer is empty
    # with a cursor after the last key read, and the second one holds the live key
    items, n = pages(f"stale{tag}", me, 1)
    assert [i["id"] for i in items] == [uid] and n == 2
    names.delete_many({"_id": {"$gte": f"stale{tag}", "$lt": f"stale{tag}~"}, "version": {"$lt": 1}})
    names.delete_one({"_id": f"stale{tag} b{SEP}{ghost}"})


def test_search_reads_an_id_range_through_the_index():
    """explain on FerretDB of the filter the query server sends: the SQLite plan uses the index
    on the unescaped _id (patch 4 of deploy/local/mongo.sh), not a scan."""
    names = coll("user_names")
    for flt in ({"_id": {"$gte": "ann", "$lt": "ano"}},
                {"_id": {"$gt": f"ann{SEP}{uuid.uuid4()}", "$lt": "ano"}}):
        plan = names.database.command("explain", {"find": names.name, "filter": flt,
                                                  "sort": {"_id": 1}, "limit": 21})
        text = " ".join(plan["queryPlanner"]["Plan"])
        assert "__hl_id_text" in text and "USING INDEX" in text, (flt, text)
    # the old search filter scanned
    prof = coll("user_profiles")
    plan = prof.database.command("explain", {"find": prof.name,
                                             "filter": {"display_name_lower": {"$regex": "^ann"}}})
    assert "__hl_id_text" not in " ".join(plan["queryPlanner"]["Plan"])
