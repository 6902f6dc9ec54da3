#!/usr/bin/env python3
"""CPU cost per command of the whole pipeline (issue 15; a benchmark, not a test).

Driven by bench/cpu_bench.sh (`make bench-cpu`) against a running stack. A fixed workload goes
through the gateway in phases; before and after each measured phase the stack is left to go
quiet (projector 0 offsets behind, outbox empty, every process back at its idle CPU rate), and
for each process of the stack the CPU time it used (utime + stime of /proc/<pid>/stat, of every
process in its process group, children reaped included) is divided by the phase's commands,
after subtracting what the process uses idle (measured before the first phase for as long as a
phase took, scaled to its length). Alongside, per command:
  - read-store commands (round trips) and single-document statements the projector sent
    (its hl_projector_store_commands_total / hl_projector_store_statements_total), by collection;
  - FerretDB's own count of commands it served (serverStatus metrics.commands);
  - PostgreSQL statements (pg_stat_statements calls in the application database).

Phases (counts fixed by the options, the same every run):
  register        --users POST /v1/users                       (measured)
  login           one session each                             (setup)
  friend-request  users/2 POST /v1/friend-requests             (measured)
  accept + rooms  accept each, one direct room per pair        (setup)
  send-message    --messages POST .../messages, --clients      (measured)
  mark-read       --reads POST .../read                        (measured)

The first run writes its figures to --before (JSON); a later run prints them beside its own.
"""
import argparse
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import time
import uuid

import pymongo
import requests

TICK = os.sysconf("SC_CLK_TCK")


def all_cpu():
    """{pid: (ppid, pgid, utime+stime+cutime+cstime in ticks)} of every live process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(d)] = (int(rest[1]), int(rest[2]), sum(int(x) for x in rest[11:15]))
    return out


def group_cpu_us(procs, leader):
    """CPU µs of a component: every process in the leader's process group and every direct
    child of the leader (PostgreSQL's backends each start a session of their own), with what
    their reaped children used (cutime, cstime)."""
    t = sum(c for pid, (ppid, pgid, c) in procs.items() if pgid == leader or ppid == leader or
            pid == leader)
    return t * 1_000_000 // TICK


def pgid_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[2])


def metric_sum(text, name, where=None):
    """Sum of the samples of metric name (any labels; where: substring a label set must hold)."""
    s = 0.0
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        key, _, val = line.rpartition(" ")
        base = key.split("{", 1)[0]
        if base != name:
            continue
        if where and where not in key:
            continue
        try:
            s += float(val)
        except ValueError:
            pass
    return s


def metric_by(text, name, label):
    """{label value: sum} of metric name."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        key, _, val = line.rpartition(" ")
        lab = key.split(label + '="', 1)
        if len(lab) < 2:
            continue
        v = lab[1].split('"', 1)[0]
        out[v] = out.get(v, 0.0) + float(val)
    return out


class Stack:
    def __init__(self, a):
        self.a = a
        self.gw = f"http://127.0.0.1:{a.gateway_port}"
        self.http = requests.Session()
        self.mongo = pymongo.MongoClient(a.mongo_uri, serverSelectionTimeoutMS=5000)
        self.groups = {}
        for name, pid in a.procs:
            self.groups[name] = pgid_of(pid)

    def cpu(self):
        procs = all_cpu()
        return {n: group_cpu_us(procs, g) for n, g in self.groups.items()}

    def scrape(self, port):
        return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text

    def ferret_commands(self):
        st = self.mongo.admin.command("serverStatus")
        cmds = st.get("metrics", {}).get("commands", {})
        out = {}
        for k, v in cmds.items():
            if isinstance(v, dict):
                out[k] = int(v.get("total", 0))
        return out

    def pg_calls(self):
        q = ("SELECT COALESCE(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d "
             "ON d.oid = s.dbid WHERE d.datname = current_database() "
             "AND query NOT LIKE '%pg_stat_statements%'")
        r = subprocess.run(["psql", self.a.pg_url, "-qAtc", q], capture_output=True, text=True)
        if r.returncode:
            return None
        return int(float(r.stdout.strip() or 0))

    def counters(self):
        pj = self.scrape(self.a.projector_port)
        return {
            "inputs": metric_sum(pj, "hl_projection_inputs_total"),
            "store_cmds": metric_by(pj, "hl_projector_store_commands_total", "collection"),
            "store_stmts": metric_by(pj, "hl_projector_store_statements_total", "collection"),
            "ferret": self.ferret_commands(),
            "pg": self.pg_calls(),
        }

    def quiet(self, idle_rate, timeout=180):
        """Wait until the pipeline has caught up and every process is back near idle."""
        deadline = time.time() + timeout
        calm = 0
        prev, t_prev = self.cpu(), time.time()
        while time.time() < deadline:
            time.sleep(1.0)
            cur, t = self.cpu(), time.time()
            busy = sum(cur.values()) - sum(prev.values())
            rate = busy / (t - t_prev)
            prev, t_prev = cur, t
            try:
                pj = self.scrape(self.a.projector_port)
                behind = 0
                for line in pj.splitlines():
                    if line.startswith("hl_projector_offsets_behind "):
                        behind = float(line.split()[1])
                backlog = metric_sum(self.scrape(self.a.command_port), "hl_outbox_backlog")
            except requests.RequestException:
                behind, backlog = 1, 1
            idle = idle_rate is None or rate < idle_rate * 1.5 + 30_000
            calm = calm + 1 if (behind == 0 and backlog == 0 and idle) else 0
            if calm >= 2:
                return True
        print(f"[bench-cpu] not quiet after {timeout} s (continuing)", file=sys.stderr)
        return False


class Api:
    def __init__(self, base):
        self.base = base
        self.s = requests.Session()
        ad = requests.adapters.HTTPAdapter(pool_connections=64, pool_maxsize=64)
        self.s.mount("http://", ad)

    def post(self, path, body=None, token=None, want=(200, 201)):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        for attempt in range(20):
            r = self.s.post(self.base + path, data=json.dumps(body or {}), headers=h, timeout=60)
            if r.status_code in (429, 503) and attempt < 19:
                time.sleep(float(r.headers.get("Retry-After", "0.2") or 0.2))
                continue
            if r.status_code not in want:
                raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")
            return r.json() if r.content else {}


def run_parallel(fn, items, clients):
    with cf.ThreadPoolExecutor(clients) as ex:
        return list(ex.map(fn, items))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway-port", type=int, required=True)
    ap.add_argument("--command-port", type=int, required=True)
    ap.add_argument("--projector-port", type=int, required=True)
    ap.add_argument("--mongo-uri", required=True)
    ap.add_argument("--pg-url", required=True)
    ap.add_argument("--proc", action="append", default=[], help="name=pid")
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--reads", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--idle-seconds", type=float, default=20)
    ap.add_argument("--before", required=True, help="JSON file of the before figures")
    ap.add_argument("--label", default="", help="before or after (default: before when "
                    "--before does not exist, else after)")
    ap.add_argument("--out", default="", help="also write this run's figures here (JSON)")
    ap.add_argument("--note", default="", help="what this run measured (binaries, commit), kept "
                    "in the JSON and printed above a later run's tables")
    a = ap.parse_args()
    a.procs = []
    for p in a.proc:
        n, _, pid = p.partition("=")
        a.procs.append((n, int(pid)))
    label = a.label or ("after" if os.path.exists(a.before) else "before")

    st = Stack(a)
    api = Api(f"http://127.0.0.1:{a.gateway_port}")
    print("[bench-cpu] waiting for the stack to go quiet", file=sys.stderr)
    st.quiet(None, timeout=120)
    c0, i0, t0 = st.cpu(), st.counters(), time.time()
    time.sleep(a.idle_seconds)
    c1, i1, t1 = st.cpu(), st.counters(), time.time()
    idle = {n: (c1[n] - c0[n]) / (t1 - t0) for n in c0}  # µs per second
    # statements that run without any command (the saga workers' lease polls, the relay's
    # gauges, the projector's presence sweep): per second, subtracted like the idle CPU
    idle_pg = ((i1["pg"] - i0["pg"]) / (t1 - t0)) if i0["pg"] is not None and i1["pg"] is not None else 0
    idle_ferret = (sum(i1["ferret"].values()) - sum(i0["ferret"].values())) / (t1 - t0)
    idle_total = sum(idle.values())
    print(f"[bench-cpu] idle: {idle_total / 1e4:.1f} % of one core in all", file=sys.stderr)

    results = {"label": label, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "idle_us_per_s": idle, "idle_pg_statements_per_s": idle_pg,
               "idle_ferret_commands_per_s": idle_ferret, "note": a.note, "phases": {}}

    def measure(name, count, fn):
        st.quiet(idle_total)
        k0, p0, q0 = st.cpu(), st.counters(), time.time()
        fn()
        w = time.time() - q0
        st.quiet(idle_total)
        k1, p1, q1 = st.cpu(), st.counters(), time.time()
        el = q1 - q0
        # net of the idle rate (may come out below 0 for a process whose idle rate varies more
        # than what the phase adds: Kafka's idle is ~0.2 core), and gross
        per = {n: ((k1[n] - k0[n]) - idle[n] * el) / count for n in k0}
        gross = {n: (k1[n] - k0[n]) / count for n in k0}
        cmds = {c: (p1["store_cmds"].get(c, 0) - p0["store_cmds"].get(c, 0)) / count
                for c in p1["store_cmds"]}
        stmts = {c: (p1["store_stmts"].get(c, 0) - p0["store_stmts"].get(c, 0)) / count
                 for c in p1["store_stmts"]}
        ferret = sum(p1["ferret"].get(c, 0) - p0["ferret"].get(c, 0)
                     for c in ("update", "insert", "delete", "findAndModify")) / count
        ferret_all = sum(p1["ferret"].values()) - sum(p0["ferret"].values()) - idle_ferret * el
        pg = (None if p0["pg"] is None or p1["pg"] is None else
              (p1["pg"] - p0["pg"] - idle_pg * el) / count)
        results["phases"][name] = {
            "commands": count, "send_seconds": w, "seconds": el, "cpu_us": per,
            "gross_cpu_us": gross,
            "inputs": (p1["inputs"] - p0["inputs"]) / count,
            "store_commands": cmds, "store_statements": stmts,
            "ferret_writes": ferret, "ferret_commands": ferret_all / count, "pg_statements": pg,
        }
        print(f"[bench-cpu] {name}: {count} commands sent in {w:.1f} s, quiet after {el:.1f} s, "
              f"{sum(per.values()):.0f} µs CPU per command", file=sys.stderr)

    tag = uuid.uuid4().hex[:8]
    users = []

    def register(i):
        email = f"cpu-{tag}-{i}@example.com"
        r = api.post("/v1/users", {"email": email, "password": "bench password",
                                   "display_name": f"Cpu {i}"})
        return {"email": email, "id": r["user_id"]}

    def do_register():
        users.extend(run_parallel(register, range(a.users), a.clients))

    measure("register", a.users, do_register)

    def login(u):
        r = api.post("/v1/sessions", {"email": u["email"], "password": "bench password"})
        u["token"] = r["token"]

    run_parallel(login, users, a.clients)
    pairs = [(users[2 * i], users[2 * i + 1]) for i in range(a.users // 2)]

    def request(p):
        r = api.post("/v1/friend-requests", {"to_user_id": p[1]["id"]}, p[0]["token"])
        return r["request_id"]

    rids = []
    measure("friend-request", len(pairs), lambda: rids.extend(run_parallel(request, pairs,
                                                                           a.clients)))

    def accept_and_room(x):
        (u, v), rid = x
        api.post(f"/v1/friend-requests/{rid}/accept", None, v["token"])
        r = api.post("/v1/chat-rooms", {"member_ids": [v["id"]]}, u["token"])
        return r["room_id"]

    rooms = run_parallel(accept_and_room, list(zip(pairs, rids)), a.clients)
    seqs = {}

    def send(i):
        k = i % len(rooms)
        u = pairs[k][i // len(rooms) % 2]
        r = api.post(f"/v1/chat-rooms/{rooms[k]}/messages",
                     {"body": f"cpu bench message {i}", "client_message_id": f"{tag}-{i}"},
                     u["token"])
        return k, r.get("seq", 0)

    def do_send():
        for k, s in run_parallel(send, range(a.messages), a.clients):
            seqs[k] = max(seqs.get(k, 0), s)

    measure("send-message", a.messages, do_send)

    def read(i):
        k = i % len(rooms)
        u = pairs[k][i // len(rooms) % 2]
        top = max(1, seqs.get(k, 1))
        # each read moves the reader's mark forward (rounds of the rooms, up to the last seq)
        upto = max(1, min(top, top * (i // len(rooms) + 1) // max(1, a.reads // len(rooms))))
        api.post(f"/v1/chat-rooms/{rooms[k]}/read", {"up_to_seq": upto}, u["token"])

    measure("mark-read", a.reads, lambda: run_parallel(read, range(a.reads), a.clients))

    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
    before = None
    if label == "before":
        with open(a.before, "w") as f:
            json.dump(results, f, indent=1)
    elif os.path.exists(a.before):
        with open(a.before) as f:
            before = json.load(f)
    render(results, before)


def table_lines(now, before):
    """The report of a run (now) beside an earlier one (before, or None), as lines of Markdown:
    per measured phase a header line, a table of µs CPU per command by process and the
    statement counts, and the read-store commands by collection. bench/report_render.py puts
    the same lines in docs/BENCHMARKS.md."""
    out = []
    for run in ([before] if before else []) + [now]:
        out.append(f"{run['label']}: run {run['when']}, idle {sum(run['idle_us_per_s'].values()) / 1e4:.1f} % "
                   f"of one core in all" + (f"; {run['note']}" if run.get("note") else ""))
    names = list(now["idle_us_per_s"].keys())
    for ph, r in now["phases"].items():
        b = before["phases"].get(ph) if before else None
        out.append("")
        out.append(f"{ph}: {r['commands']} commands, {r['inputs']:.1f} projector inputs each; "
                   f"sent in {r['send_seconds']:.1f} s, pipeline quiet after {r['seconds']:.1f} s")
        out.append("")
        cols = ["before", "after"] if b else [now["label"]]
        out.append(f"| {'µs CPU per command':<40} | " + " | ".join(f"{c:>8}" for c in cols) + " |")
        out.append("|" + "-" * 42 + "|" + "|".join("-" * 9 + ":" for _ in cols) + "|")

        def row(label, v_now, v_before, fmt="{:8.0f}"):
            vals = [v_before, v_now] if b else [v_now]
            cells = [(fmt.format(v) if v is not None else f"{'–':>8}") for v in vals]
            out.append(f"| {label:<40} | " + " | ".join(cells) + " |")

        for n in names:
            row(n, r["cpu_us"].get(n, 0), b["cpu_us"].get(n) if b else None)
        row("**total**", sum(r["cpu_us"].values()), sum(b["cpu_us"].values()) if b else None)
        row("total with idle (gross)", sum(r["gross_cpu_us"].values()),
            sum(b["gross_cpu_us"].values()) if b else None)
        row("read-store commands (projector)", sum(r["store_commands"].values()),
            sum(b["store_commands"].values()) if b else None, "{:8.2f}")
        row("read-store write statements", sum(r["store_statements"].values()),
            sum(b["store_statements"].values()) if b else None, "{:8.2f}")
        row("FerretDB write commands served", r["ferret_writes"],
            b["ferret_writes"] if b else None, "{:8.2f}")
        row("FerretDB commands served (net of idle)", r["ferret_commands"],
            b["ferret_commands"] if b else None, "{:8.2f}")
        row("PostgreSQL statements (net of idle)", r["pg_statements"], b["pg_statements"] if b else None,
            "{:8.2f}")
        top = sorted(r["store_commands"].items(), key=lambda x: -x[1])
        out.append("")
        out.append(f"{now['label']}, read-store commands per command by collection: " + ", ".join(
            f"{c} {v:.2f} ({r['store_statements'].get(c, 0):.2f} statements)"
            for c, v in top if v > 0.005))
    return out


def render(now, before):
    print("\n".join(table_lines(now, before)))


if __name__ == "__main__":
    main()
