#!/usr/bin/env python3
"""Module dependency cycles between the C files of each component (issue 13).

A module calls down, never back up (redis's leaf modules, h2o's lib/common): for each directory
given, read the symbols every object file defines and uses (`nm`), draw an edge a.c -> b.c when
a.c uses a function b.c defines, and fail listing every cycle. Usage:
    module_cycles.py BUILD_DIR   # checks common/, projector/, query-server/, command-server/
Exit 0: no cycle; 1: cycles (printed); 2: no object files found (the build is missing).
"""
import os
import subprocess
import sys

COMPONENTS = ["common", "projector", "query-server", "command-server"]
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def objects(build, component):
    found = {}
    for root, _, files in os.walk(os.path.join(build, component)):
        for f in files:
            # x.c.o -> x.c, when x.c is still a source of the component (a renamed file leaves
            # its old object behind in the build directory)
            if f.endswith(".c.o") and root.endswith("/src") and \
                    os.path.exists(os.path.join(SOURCE, component, "src", f[:-2])):
                found.setdefault(f[:-2], os.path.join(root, f))
    return found


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", "-g", obj], capture_output=True, text=True,
                         check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3}
    out = subprocess.run(["nm", "-u", obj], capture_output=True, text=True, check=True).stdout
    used = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, used


def cycles(graph):
    """Every elementary cycle's node list, found by DFS from each node (graphs are small)."""
    found, seen = [], set()
    def walk(start, node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    found.append(path + [start])
            elif nxt not in path and nxt > start:
                walk(start, nxt, path + [nxt])
    for n in sorted(graph):
        walk(n, n, [n])
    return found


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build, bad, total = sys.argv[1], 0, 0
    for comp in COMPONENTS:
        objs = objects(build, comp)
        total += len(objs)
        syms = {name: symbols(path) for name, path in objs.items()}
        owner = {}
        for name, (defined, _) in syms.items():
            for s in defined:
                owner.setdefault(s, name)
        graph = {name: {owner[s] for s in used if s in owner and owner[s] != name}
                 for name, (_, used) in syms.items()}
        for c in cycles(graph):
            bad += 1
            via = []
            for a, b in zip(c, c[1:]):
                names = sorted(s for s in syms[a][1] if owner.get(s) == b)
                via.append(f"{a} -> {b} ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})")
            print(f"{comp}: cycle {' -> '.join(c)}\n    " + "\n    ".join(via))
    if total == 0:
        print(f"no object files under {build}", file=sys.stderr)
        return 2
    print(f"{total} modules, {bad} cycles")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
