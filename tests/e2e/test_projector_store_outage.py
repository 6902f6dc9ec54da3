"""A read-model store outage longer than max.poll.interval.ms does not take the projector out of
its consumer group: while it retries a batch it pauses its partitions and keeps polling
(projector/src/main.c retry_wait), so nothing is re-read once the store is back and every input
of the outage is applied.

A second projector daemon (own consumer group and database, reading only new input) reaches
FerretDB through a TCP proxy that this test cuts for 20 s, with max.poll.interval.ms at 8 s.
Before retry_wait, the daemon slept between retries without polling: librdkafka logged
"Application maximum poll interval (8000ms) exceeded" and took it out of the group.

The second test is the regression test of the stall behind the fault matrix's stop:kafka and
cut:projector-kafka rows: a rebalance served inside retry_wait (while every partition is paused)
abandons the batch, and librdkafka keeps an application's pause across unassign and assign, so
before the rebalance callback resumed what it assigns the daemon came back with every partition
assigned and paused, and never applied anything again."""
import os
import socket
import subprocess
import threading
import time
import uuid

import pymongo
import pytest
from confluent_kafka import Consumer, TopicPartition

from conftest import KAFKA, MONGO_URI, REGISTRY, eventually, healthy, free_port
from pj_helpers import PROJECTOR_BIN, User, befriend, send

OUTAGE_S = 20
MAX_POLL_MS = 8000


class CuttableProxy:
    """TCP proxy 127.0.0.1:<port> -> upstream. cut() closes every connection and refuses new
    ones (accepted, then closed at once) until mend()."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.down = False
        self.closing = False
        self.socks = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.down:
                c.close()
                continue
            try:
                u = socket.create_connection(self.upstream, timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.down = True
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def mend(self):
        self.down = False

    def close(self):
        self.closing = True
        self.cut()
        self.lsock.close()



def commit_at_end(group):
    """Commit group's offset of every partition at its end, so that its projectors read only new
    input and a partition that changes hands resumes where it was (auto.offset.reset=latest
    would instead skip what a partition got before its first commit, after a rebalance)."""
    c = Consumer({"bootstrap.servers": KAFKA, "group.id": group, "enable.auto.commit": False})
    try:
        md = c.list_topics(timeout=10)
        ends = [TopicPartition(t, p, c.get_watermark_offsets(TopicPartition(t, p), 10)[1])
                for t in md.topics if not t.startswith(("_", "connect"))
                for p in md.topics[t].partitions]
        c.commit(offsets=ends, asynchronous=False)
    finally:
        c.close()


def start_daemon(uri, database, tag, log_path, first=True):
    """A projector daemon of group hl-outage-<tag> on store uri/database, reading only input
    newer than the group's first daemon (commit_at_end). Returns (process, port, log file)."""
    port = free_port()
    if first:
        commit_at_end(f"hl-outage-{tag}")
    overrides = f"session.timeout.ms=6000,max.poll.interval.ms={MAX_POLL_MS}"
    log = open(log_path, "w")
    daemon = subprocess.Popen(
        [PROJECTOR_BIN, f"--kafka-brokers={KAFKA}", f"--mongo-uri={uri}",
         f"--mongo-db={database}", f"--schema-registry-url={REGISTRY}",
         f"--group-id=hl-outage-{tag}", f"--http-listen=127.0.0.1:{port}",
         f"--kafka-overrides={overrides}", "--log-level=info"],
        stdout=log, stderr=subprocess.STDOUT)
    eventually(lambda: daemon.poll() is not None or healthy(f"http://127.0.0.1:{port}"), 60,
               "outage daemon healthy")
    assert daemon.poll() is None, log_path.read_text(errors="replace")[-3000:]
    return daemon, port, log


def stop_daemon(daemon, log):
    daemon.terminate()
    try:
        daemon.wait(30)
    except subprocess.TimeoutExpired:
        daemon.kill()
    log.close()


def first_applied(a, room, applied):
    """Send probes until one is applied (the daemon has its assignment)."""
    deadline = time.time() + 120
    while True:
        probe = send(a, room, f"probe {uuid.uuid4().hex[:6]}")["message_id"]
        try:
            eventually(lambda: applied(probe), 10, "probe applied")
            return
        except pytest.fail.Exception:
            assert time.time() < deadline, "the outage daemon never applied a probe"


PROXIED = "?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000&socketTimeoutMS=5000"


class Outage:
    """One test's scene: group hl-outage-<tag> and database hl_outage_<tag>, daemon 1 on the
    store behind a CuttableProxy (log tmp_path/projector-1.log), a room of two befriended users
    whose probe daemon 1 applied (begin). sent(user, label, n) sends n messages; applied(ids) says
    whether all of them are in the daemon's messages collection."""

    def __init__(self, tmp_path):
        self.tag = uuid.uuid4().hex[:10]
        self.database = f"hl_outage_{self.tag}"
        self.tmp_path = tmp_path
        self.proxy = CuttableProxy(int(os.environ["HL_MONGO_PORT"]))
        self.log1 = tmp_path / "projector-1.log"
        self.daemons = []
        self.messages = pymongo.MongoClient(MONGO_URI)[self.database]["messages"]

    def begin(self):
        self.start(f"mongodb://127.0.0.1:{self.proxy.port}/{PROXIED}", self.log1, first=True)
        self.a, self.b = User("Outage A"), User("Outage B")
        befriend(self.a, self.b)
        self.room = self.a.call("POST", "/v1/chat-rooms", {"member_ids": [self.b.id]})["room_id"]
        first_applied(self.a, self.room,
                      lambda m: self.messages.find_one({"message_id": m}) is not None)

    def start(self, uri, log_path, first=False):
        daemon, _, log = start_daemon(uri, self.database, self.tag, log_path, first=first)
        self.daemons.append((daemon, log))
        return daemon, log

    def sent(self, user, label, n):
        return [send(user, self.room, f"{label} {i}")["message_id"] for i in range(n)]

    def applied(self, ids):
        return all(self.messages.find_one({"message_id": m}) is not None for m in ids)

    def close(self):
        for daemon, log in self.daemons:
            if daemon.poll() is None:
                stop_daemon(daemon, log)
        self.proxy.close()
        pymongo.MongoClient(MONGO_URI).drop_database(self.database)


@pytest.fixture
def outage(tmp_path):
    scene = Outage(tmp_path)
    try:
        scene.begin()
        yield scene
    finally:
        scene.close()


def test_store_outage_longer_than_max_poll_interval_keeps_the_consumer_in_its_group(outage):
    outage.proxy.cut()
    sent = outage.sent(outage.b, "during outage", 3)
    time.sleep(OUTAGE_S)
    outage.proxy.mend()
    eventually(lambda: outage.applied(sent), 120,
               "the messages sent during the outage are applied once the store is back")
    after = outage.sent(outage.a, "after outage", 2)
    eventually(lambda: outage.applied(after), 60, "input after the outage applied")
    text = outage.log1.read_text(errors="replace")
    # the outage was real: the daemon failed to write and retried
    assert "retrying in" in text, text[-3000:]
    # and it never left its consumer group
    assert "maximum poll interval" not in text.lower(), text[-3000:]


def test_a_rebalance_during_a_retry_wait_leaves_no_partition_paused(outage):
    """Daemon 1 (store behind the proxy) is in retry_wait with every partition paused when
    daemon 2 (same group, store reached directly) joins and then leaves: two rebalances served
    inside the wait. Once the store is back, daemon 1 owns every partition again and must apply
    what is sent then."""
    log1, log2 = outage.log1, outage.tmp_path / "projector-2.log"
    outage.proxy.cut()
    sent = outage.sent(outage.b, "during outage", 3)
    eventually(lambda: "retrying in" in log1.read_text(errors="replace"), 30,
               "daemon 1 in its retry wait")
    other, other_log = outage.start(MONGO_URI, log2)
    eventually(lambda: "partitions assigned" in log2.read_text(errors="replace"), 60,
               "daemon 2 joined the group")
    eventually(lambda: log1.read_text(errors="replace").count("partitions assigned") >= 2, 60,
               "daemon 1 given its share in the rebalance served inside its retry wait")
    stop_daemon(other, other_log)  # leaves the group: daemon 1 is assigned everything
    eventually(lambda: log1.read_text(errors="replace").count("partitions assigned") >= 3,
               60, "daemon 1 assigned again after daemon 2 left")
    outage.proxy.mend()
    eventually(lambda: outage.applied(sent), 120,
               "the messages sent during the outage are applied once the store is back")
    after = outage.sent(outage.a, "after the rebalances", 2)
    eventually(lambda: outage.applied(after), 60,
               "input after the outage and the rebalances applied (no partition paused)")
    text = log1.read_text(errors="replace")
    assert "retrying in" in text and text.count("partitions revoked") >= 2, text[-3000:]
