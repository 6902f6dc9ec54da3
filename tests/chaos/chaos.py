#!/usr/bin/env python3
"""The fault matrix (issue 17; docs/RELIABILITY.md): faults under an hl-loadgen workload.

For each fault: hl-loadgen runs back to back (small workloads through the gateway, every 5xx, 429
and lost answer retried for a while after its Retry-After, so a client's view of the fault is
what it counts), the fault is injected and the process restarted by the stack scripts
(`stack.sh up`, as `make up` would), then a canary (a new user: its profile (CDC) and its
UserRegistered count in daily_stats (domain event) must appear in the read models) measures how
long the read models stood still, and at the end `hl-loadgen --verify-only --verify-scope=all`
compares the whole store with PostgreSQL (0 mismatches: daily_stats is compared with the events
table document by document, so an effect counted twice is a mismatch).

Faults (names for --faults):
  kill:<process>   SIGKILL (postgres, kafka, connect, registry, ferretdb, command-server,
                   query-server, projector, stream-listener, gateway, payment-sim), then stack.sh up
  stop:<process>   SIGSTOP for --freeze seconds (default 30), then SIGCONT (kafka, ferretdb,
                   projector)
  cut:projector-kafka  the projector is restarted to reach Kafka through a TCP proxy started here
                   (Kafka's FAULT listener advertises the proxy's port); the proxy drops every
                   connection and refuses new ones for --freeze seconds, then forwards again

Run by tests/chaos/run.sh (sources deploy/local/env.sh of HL_PROFILE). Exit 0 iff every fault
recovered, every verification found 0 mismatches and no client saw an answer other than the
expected one or 503 + Retry-After (--allow-transport: a client losing its connection when the
gateway itself is killed is counted, not failed).
"""
import argparse
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pymongo
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOCAL = os.path.join(ROOT, "deploy", "local")
ENV = os.environ
BUILD = ENV.get("HL_BUILD_DIR", os.path.join(ROOT, "build"))
LOADGEN = ENV.get("HL_LOADGEN", os.path.join(BUILD, "bench", "hl-loadgen"))
RUN_DIR = ENV["HL_RUN_DIR"]
LOG_DIR = ENV["HL_LOG_DIR"]
STACK_DIR = ENV["HL_STACK_DIR"]
GATEWAY = f"http://127.0.0.1:{ENV['HL_GATEWAY_PORT']}"
MONGO = f"mongodb://127.0.0.1:{ENV['HL_MONGO_PORT']}/"
MONGO_DB = ENV.get("HL_MONGO_DB", "hearlers_read")

KILLABLE = ["postgres", "kafka", "connect", "registry", "ferretdb", "command-server",
            "query-server", "projector", "stream-listener", "gateway", "payment-sim"]
FULL = ([f"kill:{p}" for p in KILLABLE] + ["stop:kafka", "stop:ferretdb", "stop:projector",
                                          "cut:projector-kafka"])
SHORT = ["kill:command-server", "stop:projector", "kill:postgres"]

ANSWER_CLASSES = ["expected", "503_retry_after", "429_retry_after", "5xx_other", "transport",
                  "other"]


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pid_of(proc):
    """The pid of a stack process (its pid file; PostgreSQL: postmaster.pid)."""
    if proc == "postgres":
        path = os.path.join(STACK_DIR, "pg", "data", "postmaster.pid")
    else:
        path = os.path.join(RUN_DIR, f"{proc}.pid")
    with open(path) as f:
        return int(f.readline().strip())


def children_of(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def sh(*args, env=None, check=True):
    t0 = time.monotonic()
    r = subprocess.run(["bash", *args], env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {r.returncode}: {r.stderr[-2000:]}")
    return time.monotonic() - t0


def stack_up():
    """stack.sh up: starts whatever of the stack is not running (what `make up` does). A
    PostgreSQL killed with SIGKILL may refuse to start while its orphaned backends are still
    exiting, so this tries a few times."""
    last = None
    # A JVM recovering its logs after SIGKILL on a loaded machine needs longer than the scripts'
    # default start timeouts (Kafka 90 s): they would stop it mid-recovery and start over.
    env = dict(ENV)
    env.setdefault("HL_KAFKA_START_TIMEOUT", "400")
    env.setdefault("HL_REGISTRY_START_TIMEOUT", "400")
    for _ in range(5):
        try:
            return sh(os.path.join(LOCAL, "stack.sh"), "up", env=env)
        except RuntimeError as e:
            last = e
            log(f"stack.sh up failed, retrying in 3 s: {str(e)[-300:]}")
            time.sleep(3)
    raise last


class Workload:
    """hl-loadgen runs back to back until stop(); sums their answer classes and failed ops."""

    def __init__(self, name, users, messages, clients, retry_for):
        self.name, self.users, self.messages = name, users, messages
        self.clients, self.retry_for = clients, retry_for
        self.answers = {k: 0 for k in ANSWER_CLASSES}
        self.failed_ops = 0
        self.runs = 0
        self.failures = []
        self._stop = threading.Event()
        self._after = None  # stop once a run started at or after this (monotonic) has ended
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def finish_after(self, t, deadline_s):
        """Let the workload end once a whole run that started at or after t (the stack restored)
        has ended, so that every operation of one workload ran on the recovered stack. Returns
        False when that took longer than deadline_s (then the workload is stopped anyway)."""
        self._after = t
        self._thread.join(deadline_s)
        done = not self._thread.is_alive()
        self.stop()
        return done

    def _loop(self):
        while not self._stop.is_set():
            started = time.monotonic()
            if self._after is not None and started >= self._after:
                self._stop.set()  # this is the last run
            self.runs += 1
            tag = f"c{uuid.uuid4().hex[:10]}"
            summary = os.path.join(LOG_DIR, f"chaos-{tag}.json")
            out = os.path.join(LOG_DIR, f"chaos-{tag}.log")
            with open(out, "w") as f:
                r = subprocess.run(
                    [LOADGEN, f"--users={self.users}", f"--messages={self.messages}",
                     f"--clients={self.clients}", f"--seed={self.runs}", f"--run-tag={tag}",
                     "--no-verify", "--no-progress", f"--retry-for={self.retry_for}",
                     "--verify-timeout=600", f"--summary-json={summary}"],
                    stdout=f, stderr=subprocess.STDOUT)
            try:
                with open(summary) as f:
                    s = json.load(f)
                for k in ANSWER_CLASSES:
                    self.answers[k] += int(s.get("answers", {}).get(k, 0))
                self.failed_ops += int(s.get("errors", 0))
            except (OSError, ValueError) as e:
                self.failures.append(f"run {tag}: no summary ({e}), exit {r.returncode}")
            if r.returncode != 0:
                self.failures.append(f"run {tag}: exit {r.returncode}, see {out}")


class Proxy:
    """A TCP proxy 127.0.0.1:listen -> 127.0.0.1:target; cut() drops every connection and
    refuses new ones until heal()."""

    def __init__(self, listen, target):
        self.listen, self.target = listen, target
        self.conns = set()
        self.lock = threading.Lock()
        self.server = None
        self.accepting = threading.Event()

    def heal(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.listen))
        s.listen(128)
        self.server = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def cut(self):
        s, self.server = self.server, None
        s.close()
        with self.lock:
            for c in list(self.conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns.clear()

    def _accept(self, srv):
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns.update((c, u))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def canary(mongo, deadline_s):
    """Register a new user through the gateway (503 + Retry-After retried) and wait until its
    profile (CDC path) and its day's UserRegistered count (domain-event path) are in the read
    models. Returns seconds from the call to both visible, or None after deadline_s."""
    t0 = time.monotonic()
    tag = uuid.uuid4().hex[:12]
    body = {"email": f"canary.{tag}@chaos.invalid", "password": "canary-password-1",
            "display_name": f"Canary {tag}"}
    user_id = None
    while time.monotonic() - t0 < deadline_s:
        try:
            r = requests.post(f"{GATEWAY}/v1/users", json=body, timeout=10,
                              headers={"Idempotency-Key": f"canary-{tag}"})
            if r.status_code == 201:
                user_id = r.json()["user_id"]
                break
            time.sleep(float(r.headers.get("Retry-After", "1")))
        except requests.RequestException:
            time.sleep(1)
    if not user_id:
        return None
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    db = mongo[MONGO_DB]
    while time.monotonic() - t0 < deadline_s:
        try:
            if (db.user_profiles.find_one({"_id": user_id}) and
                    db.daily_stats.find_one({"_id": f"{day}:User:{user_id}"})):
                return time.monotonic() - t0
        except pymongo.errors.PyMongoError:
            pass
        time.sleep(0.25)
    return None


def applied_total():
    """The projector's applied inputs (sum of hl_projection_inputs_total{result="applied"} of its
    /metrics), or None when it does not answer."""
    try:
        r = requests.get(f"http://127.0.0.1:{ENV['HL_PROJECTOR_PORT']}/metrics", timeout=2)
    except requests.RequestException:
        return None
    total = 0
    for line in r.text.splitlines():
        if line.startswith("hl_projection_inputs_total{") and 'result="applied"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


class FirstMove(threading.Thread):
    """Seconds from start until the projector applies an input again (its applied count differs
    from the one at start: a restarted projector counts from 0), or None before stop()."""

    def __init__(self):
        super().__init__(daemon=True)
        self.t0 = time.monotonic()
        self.base = applied_total()
        self.seconds = None
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            now = applied_total()
            if now and now != self.base:
                self.seconds = time.monotonic() - self.t0
                return
            time.sleep(0.2)


def verify(scope="all"):
    """hl-loadgen --verify-only --verify-scope=<scope>: the read models against PostgreSQL (all:
    the whole store; loadgen: everything hl-loadgen wrote, the short run's choice on a stack that
    the e2e suite filled before it)."""
    summary = os.path.join(LOG_DIR, f"chaos-verify-{uuid.uuid4().hex[:8]}.json")
    r = subprocess.run([LOADGEN, "--verify-only", f"--verify-scope={scope}", "--no-progress",
                        "--verify-timeout=900", f"--summary-json={summary}"],
                       capture_output=True, text=True)
    try:
        with open(summary) as f:
            s = json.load(f)
    except (OSError, ValueError):
        return -1, r.stderr[-2000:]
    per = s.get("verify", {}).get("mismatches_per_model", {})
    bad = {k: v for k, v in per.items() if v}
    m = s.get("mismatches")
    return (m if m is not None else -1), (bad or (r.stderr[-2000:] if r.returncode else ""))


def inject(fault, freeze_s, proxy_port, fault_port):
    """Inject fault and undo it; returns (seconds the fault lasted until restored, note)."""
    kind, proc = fault.split(":", 1)
    t0 = time.monotonic()
    if kind == "kill":
        pid = pid_of(proc)
        kids = children_of(pid) if proc == "gateway" else []  # nginx workers outlive the master
        os.kill(pid, signal.SIGKILL)
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:  # wait for the process to be gone before restarting it
            try:
                os.kill(pid, 0)
                time.sleep(0.1)
            except ProcessLookupError:
                break
        log(f"killed {proc} (pid {pid}); stack.sh up")
        stack_up()
        return time.monotonic() - t0, f"restarted, new pid {pid_of(proc)}"
    if kind == "stop":
        pid = pid_of(proc)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(freeze_s)
        os.kill(pid, signal.SIGCONT)
        return time.monotonic() - t0, f"pid {pid} frozen {freeze_s} s"
    if kind == "cut":
        raise AssertionError("cut is handled by run_cut")
    raise ValueError(fault)


def restart_projector(brokers=None):
    env = dict(ENV)
    if brokers:
        env["HL_KAFKA_BROKERS"] = brokers
    sh(os.path.join(LOCAL, "servers.sh"), "stop", "projector")
    sh(os.path.join(LOCAL, "servers.sh"), "start", "projector", env=env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faults", default="full",
                    help="full, short, or a comma list (kill:kafka,stop:projector,...)")
    ap.add_argument("--freeze", type=int, default=30, help="seconds of SIGSTOP / TCP cut")
    ap.add_argument("--users", type=int, default=30)
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--retry-for", type=int, default=240)
    ap.add_argument("--warmup", type=int, default=100,
                    help="projector inputs the workload must have caused before each fault")
    ap.add_argument("--recover-timeout", type=int, default=600)
    ap.add_argument("--verify-scope", default="all", choices=["all", "loadgen"],
                    help="what each verification compares (all: the whole store)")
    ap.add_argument("--allow-transport", action="store_true", default=True)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--markdown", help="write the matrix table here")
    a = ap.parse_args()
    faults = FULL if a.faults == "full" else SHORT if a.faults == "short" else a.faults.split(",")
    for f in faults:
        k, _, p = f.partition(":")
        if not ((k == "kill" and p in KILLABLE) or
                (k == "stop" and p in ("kafka", "ferretdb", "projector")) or
                f == "cut:projector-kafka"):
            ap.error(f"unknown fault {f}")
    proxy_port = int(ENV["HL_KAFKA_PROXY_PORT"])
    fault_port = int(ENV["HL_KAFKA_FAULT_PORT"])
    mongo = pymongo.MongoClient(MONGO, serverSelectionTimeoutMS=5000)
    log(f"faults: {', '.join(faults)}; stack {ENV.get('HL_PROFILE')}, build {BUILD}")
    t_start = time.monotonic()
    stack_up()
    m, detail = verify(a.verify_scope)
    log(f"baseline verification: {m} mismatches {detail or ''}")
    results = []
    ok = m == 0
    for fault in faults:
        log(f"=== {fault}")
        proxy = None
        if fault == "cut:projector-kafka":
            proxy = Proxy(proxy_port, fault_port)
            proxy.heal()
            restart_projector(f"127.0.0.1:{proxy_port}")
            log(f"projector restarted through the proxy :{proxy_port} -> FAULT listener :{fault_port}")
        base = applied_total() or 0
        w = Workload(fault, a.users, a.messages, a.clients, a.retry_for)
        w.start()
        # the fault lands under load: once the workload's writes are being projected (at least
        # --warmup inputs applied since it started), within the recovery deadline
        deadline = time.monotonic() + a.recover_timeout
        while (applied_total() or 0) - base < a.warmup and time.monotonic() < deadline:
            time.sleep(0.2)
        t_fault = time.monotonic()
        if proxy:
            proxy.cut()
            time.sleep(a.freeze)
            proxy.heal()
            lasted, note = time.monotonic() - t_fault, f"cut {a.freeze} s"
        else:
            lasted, note = inject(fault, a.freeze, proxy_port, fault_port)
        log(f"{fault}: restored after {lasted:.1f} s ({note}); canary")
        move = FirstMove()
        move.start()
        lag = canary(mongo, a.recover_timeout)
        move.done.set()
        since_fault = time.monotonic() - t_fault
        log(f"{fault}: read models move again {lag if lag is None else round(lag, 1)} s after "
            f"restore ({since_fault:.1f} s after the fault)")
        # one whole workload run on the restored stack, then stop
        finished = w.finish_after(time.monotonic(), a.recover_timeout)
        if not finished:
            w.failures.append(f"no workload run completed within {a.recover_timeout} s of the "
                              "restore")
        if proxy:
            restart_projector()
            proxy.cut()
        m, detail = verify(a.verify_scope)
        non_retryable = (w.answers["5xx_other"] + w.answers["other"] + w.failed_ops +
                         (0 if a.allow_transport and fault == "kill:gateway"
                          else w.answers["transport"]))
        row = {"fault": fault, "restored_s": round(lasted, 1),
               "recover_s": None if lag is None else round(lag, 1),
               "first_apply_s": None if move.seconds is None else round(move.seconds, 1),
               "since_fault_s": round(since_fault, 1), "runs": w.runs,
               "answers": w.answers, "failed_ops": w.failed_ops,
               "non_retryable": non_retryable, "mismatches": m, "detail": detail,
               "workload_after_restore": finished, "workload_failures": w.failures}
        results.append(row)
        log(f"{fault}: {json.dumps(row)}")
        ok = ok and lag is not None and m == 0 and non_retryable == 0 and finished
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    table = ["| fault | restored after (s) | first input applied (s after restore) "
             "| canary in the read models (s after restore) | answers "
             "| 503 + Retry-After | other 5xx / 429 | lost connections | failed ops "
             "| mismatches |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        an = r["answers"]
        total = sum(an.values())
        table.append(f"| `{r['fault']}` | {r['restored_s']} | {r['first_apply_s']} "
                     f"| {r['recover_s']} | {total} "
                     f"| {an['503_retry_after']} | {an['5xx_other'] + an['429_retry_after']} "
                     f"| {an['transport']} | {r['failed_ops']} | {r['mismatches']} |")
    print("\n".join(table))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(table) + "\n")
    log(f"{'PASSED' if ok else 'FAILED'} in {time.monotonic() - t_start:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
