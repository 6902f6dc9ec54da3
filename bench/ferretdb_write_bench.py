#!/usr/bin/env python3
"""FerretDB's CPU per document written, by write shape and bulk size (issue 15; a benchmark, not
a test). Against the read store of a running stack, in a scratch database it drops at the end:
N small documents (a room_members row's size), then rounds of bulk writes of B keys each in
three shapes the projector uses (projector/src/plan_exec.c):

  split   the ordered path's guarded upsert: {$setOnInsert} upsert by _id, then the guarded
          update {_id, $or: [version absent, version < v]} (2 statements per key, 2 bulks)
  single  the fast path's guarded upsert: one statement per key, unordered bulk
  plain   an unguarded update by _id (the floor: one statement, no guard)

For each shape and bulk size: FerretDB's CPU (/proc/<pid>/stat as bench/cpu_bench.py reads it,
in clock ticks of 10 ms: use enough rounds) and the client's wall time of the writes alone,
both µs per key.

Usage: ferretdb_write_bench.py --pid=<FerretDB pid> [--mongo-uri=mongodb://127.0.0.1:14006/]
       [--docs=3000] [--bulks=1,5,50] [--keys=2000]
  e.g. bench/ferretdb_write_bench.py --pid=$(cat .stack-lab4/run/ferretdb.pid) \\
         --mongo-uri=mongodb://127.0.0.1:14006/
"""
import argparse
import time

import pymongo
from bson import SON
from pymongo import UpdateOne

from cpu_bench import all_cpu, group_cpu_us

SHAPES = ("split", "single", "plain")


def cpu_us(pid):
    """FerretDB's CPU µs so far, as bench/cpu_bench.py takes it for its FerretDB column."""
    return group_cpu_us(all_cpu(), pid)


def guard(v):
    """The projector's version guard of a CDC row's upsert (projector/src/plan.h)."""
    return [("$or", [{"version": {"$exists": False}}, {"version": {"$lt": v}}])]


def write(coll, shape, keys, v):
    fields = SON([("version", v), ("last_read_seq", v)])
    if shape == "split":
        coll.bulk_write([UpdateOne({"_id": k}, {"$setOnInsert": fields}, upsert=True) for k in keys],
                        ordered=True)
        coll.bulk_write([UpdateOne(SON([("_id", k)] + guard(v)), {"$set": fields}) for k in keys],
                        ordered=True)
    elif shape == "single":
        coll.bulk_write([UpdateOne(SON([("_id", k)] + guard(v)), {"$set": fields}, upsert=True)
                         for k in keys], ordered=False)
    else:
        coll.bulk_write([UpdateOne({"_id": k}, {"$set": fields}) for k in keys], ordered=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pid", type=int, required=True, help="FerretDB's process id")
    ap.add_argument("--mongo-uri", default="mongodb://127.0.0.1:14006/")
    ap.add_argument("--docs", type=int, default=3000, help="documents per collection")
    ap.add_argument("--bulks", default="1,5,50", help="keys per bulk, comma-separated")
    ap.add_argument("--keys", type=int, default=2000, help="keys written per shape and bulk size")
    a = ap.parse_args()
    client = pymongo.MongoClient(a.mongo_uri)
    name = f"hl_fdb_write_{int(time.time())}"
    db = client[name]
    try:
        for shape in SHAPES:
            db[shape].insert_many([{"_id": f"k{i}", "version": 1, "last_read_seq": 0,
                                    "room_id": "r", "user_id": f"u{i}"} for i in range(a.docs)])
        print(f"FerretDB pid {a.pid}, {a.docs} documents per collection, {a.keys} keys per cell")
        print(f"| keys per bulk | " + " | ".join(f"{s} CPU µs/key | {s} wall µs/key" for s in SHAPES)
              + " |")
        print("|---:|" + "---:|" * (2 * len(SHAPES)))
        v = 1
        for b in [int(x) for x in a.bulks.split(",")]:
            rounds = max(1, a.keys // b)
            spent = {s: [0.0, 0.0] for s in SHAPES}
            for _ in range(rounds):
                v += 1
                # the shapes take turns, so a drift of the machine's load hits all three alike
                for shape in SHAPES:
                    keys = [f"k{(v * 97 + j * 31) % a.docs}" for j in range(b)]
                    c0 = cpu_us(a.pid)
                    w0 = time.monotonic()
                    write(db[shape], shape, keys, v)
                    spent[shape][1] += (time.monotonic() - w0) * 1e6
                    spent[shape][0] += cpu_us(a.pid) - c0
            n = rounds * b
            print(f"| {b} | " + " | ".join(f"{spent[s][0] / n:.0f} | {spent[s][1] / n:.0f}"
                                         for s in SHAPES) + " |")
    finally:
        client.drop_database(name)
        client.close()


if __name__ == "__main__":
    main()
