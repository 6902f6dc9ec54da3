"""After the e2e run (issue 17): no log, Kafka topic or read model of the test stack holds any
password or bearer token the tests used.

The e2e helpers append every password and bearer token they send or receive through
conftest.http() to $HL_RUN_DIR/e2e-secrets.txt (conftest.record_secret); ctest runs this module
last (e2e_secret_scan is the FIXTURES_CLEANUP of the e2e_secrets fixture every e2e test requires,
and e2e_secrets_reset empties the file first). It dumps every record of every topic (kcat: key,
value and headers, bytes as they are), every document of every read-store database
(relaxed extended JSON) and takes every log file of the stack, then looks for all the secrets at
once with grep -F (Aho-Corasick over the whole set).
"""
import glob
import os
import subprocess

import pymongo
from bson import json_util

from conftest import KAFKA, MONGO_URI, SECRETS_FILE

RUN_DIR = os.environ["HL_RUN_DIR"]
LOG_DIR = os.environ["HL_LOG_DIR"]


def secrets():
    if not os.path.exists(SECRETS_FILE):
        return set()
    with open(SECRETS_FILE) as f:
        return {line.rstrip("\n") for line in f if len(line.rstrip("\n")) >= 8}


def grep(patterns_file, paths):
    """(path, secret) for every secret found in paths (bytes, any encoding)."""
    if not paths:
        return []
    out = subprocess.run(["grep", "-FaoH", "-f", patterns_file, "--", *paths],
                         capture_output=True, timeout=1800)
    assert out.returncode in (0, 1), out.stderr.decode()[-2000:]
    hits = set()
    for line in out.stdout.decode(errors="replace").splitlines():
        path, _, secret = line.partition(":")
        hits.add((path, secret))
    return sorted(hits)


def dump_topics(out_path):
    meta = subprocess.run(["kcat", "-b", KAFKA, "-L", "-J"], capture_output=True, text=True,
                          timeout=120, check=True)
    import json
    topics = [t["topic"] for t in json.loads(meta.stdout)["topics"]
              if not t["topic"].startswith("__")]
    with open(out_path, "wb") as f:
        for t in topics:
            r = subprocess.run(["kcat", "-b", KAFKA, "-C", "-t", t, "-o", "beginning", "-e", "-q",
                                "-f", "%t %p %o %k %h %s\n"], stdout=f, stderr=subprocess.PIPE,
                               timeout=1800)
            assert r.returncode == 0, (t, r.stderr.decode()[-1000:])
    return topics


def dump_store(out_path):
    client = pymongo.MongoClient(MONGO_URI)
    n = 0
    with open(out_path, "w") as f:
        for db in client.list_database_names():
            if db in ("admin", "local", "config"):
                continue
            for coll in client[db].list_collection_names():
                for doc in client[db][coll].find():
                    f.write(json_util.dumps(doc) + "\n")
                    n += 1
    return n


def test_no_secret_in_logs_topics_or_read_models():
    found = secrets()
    if not found:
        # nothing recorded: this ran alone on a stack no e2e test used; record one exchange so
        # the check still looks at something real
        from conftest import new_user
        new_user("Scan")
        found = secrets()
    assert found
    patterns = os.path.join(RUN_DIR, "e2e-secrets.patterns")
    with open(patterns, "w") as f:
        f.write("\n".join(sorted(found)) + "\n")
    topics_dump = os.path.join(RUN_DIR, "e2e-scan-topics.dump")
    store_dump = os.path.join(RUN_DIR, "e2e-scan-store.dump")
    topics = dump_topics(topics_dump)
    ndocs = dump_store(store_dump)
    logs = [p for p in glob.glob(os.path.join(LOG_DIR, "**", "*"), recursive=True)
            if os.path.isfile(p)]
    assert topics and ndocs and logs, (topics, ndocs, logs)
    hits = grep(patterns, logs + [topics_dump, store_dump])
    print(f"secret scan: {len(found)} secrets, {len(logs)} log files, {len(topics)} topics "
          f"({os.path.getsize(topics_dump)} bytes), {ndocs} read-model documents: "
          f"{len(hits)} hits")
    for p in (topics_dump, store_dump, patterns):
        os.remove(p)
    assert not hits, "secrets found: " + "; ".join(
        f"{os.path.basename(p)}: {s[:12]}…" for p, s in hits[:20])


def test_the_scan_finds_a_planted_secret(tmp_path):
    """The check can fail: a secret written into a file is found by the same grep."""
    planted = tmp_path / "planted.log"
    planted.write_bytes(b"\x00\x02binary pw-0123456789abcdef0123456789abcdef\n")
    pats = tmp_path / "p"
    pats.write_text("pw-0123456789abcdef0123456789abcdef\nnot-there-at-all\n")
    assert grep(str(pats), [str(planted)]) == [(str(planted),
                                                "pw-0123456789abcdef0123456789abcdef")]
