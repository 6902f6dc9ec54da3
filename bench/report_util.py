#!/usr/bin/env python3
"""Helpers of bench/report.sh (benchmark report, not a test).

  report_util.py snap OUT.json      CPU seconds (user + system, the process and all its
                                    descendants), RSS and PSS (kB) of every process of the stack
                                    of this profile: the pid files in $HL_RUN_DIR and PostgreSQL's
                                    postmaster ($HL_STACK_DIR/pg/data/postmaster.pid).
                                    RSS of a tree is the sum of its processes' VmRSS; PSS (shared
                                    pages divided among their users) is the fairer sum for
                                    PostgreSQL's many backends sharing shared_buffers.
  report_util.py machine OUT.json   CPU model, cores, RAM, kernel, load average, date.
Units: seconds, kB. Reads /proc only."""
import json
import os
import platform
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def children():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def proc_figures(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return cpu, rss, pss


def tree(pid, kids):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def stack_pids():
    run = os.environ["HL_RUN_DIR"]
    pids = {}
    for f in sorted(os.listdir(run)) if os.path.isdir(run) else []:
        if f.endswith(".pid"):
            try:
                pids[f[:-4]] = int(open(os.path.join(run, f)).read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    pm = os.path.join(os.environ["HL_STACK_DIR"], "pg", "data", "postmaster.pid")
    try:
        pids["postgres"] = int(open(pm).readline())
    except (OSError, ValueError):
        pass
    return pids


def snap(out):
    kids = children()
    res = {"t": time.time()}
    for name, pid in stack_pids().items():
        if not os.path.exists(f"/proc/{pid}"):
            continue
        cpu = rss = pss = 0
        for p in tree(pid, kids):
            try:
                c, r, s = proc_figures(p)
            except OSError:
                continue
            cpu, rss, pss = cpu + c, rss + r, pss + s
        res[name] = {"pid": pid, "cpu_s": round(cpu, 2), "rss_kb": rss, "pss_kb": pss}
    json.dump(res, open(out, "w"), indent=1)


def machine(out):
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    json.dump({"cpu": model, "cores": os.cpu_count(), "mem_gib": round(mem / 1024 / 1024, 1),
               "kernel": platform.release(), "os": platform.freedesktop_os_release().get(
                   "PRETTY_NAME", "") if hasattr(platform, "freedesktop_os_release") else "",
               "load": open("/proc/loadavg").read().split()[:3],
               "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())},
              open(out, "w"), indent=1)


if __name__ == "__main__":
    {"snap": snap, "machine": machine}[sys.argv[1]](sys.argv[2])
