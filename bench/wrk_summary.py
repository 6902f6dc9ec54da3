"""Summarise one `wrk --latency` run (bench/query_bench.sh, bench/gateway_bench.sh).

Usage: wrk_summary.py WRK_OUTPUT  -> prints "rps p50_ms p90_ms p99_ms max_ms errors" on one line,
where errors = non-2xx/3xx responses + socket errors (connect, read, write, wrk's time-outs).
A percentile wrk did not print (no request finished) is "nan"."""
import re
import sys


def ms(value):
    n, unit = float(re.match(r"[\d.]+", value).group()), re.search(r"[a-z]+$", value).group()
    return n * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def summary(txt):
    pct = {p: ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", txt, re.M)}
    m = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", txt)
    mx = ms(m.group(1)) if m else float("nan")
    m = re.search(r"Requests/sec:\s+([\d.]+)", txt)
    rps = float(m.group(1)) if m else 0.0
    errs = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
    errs += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", txt)
    errs += sum(map(int, m.groups())) if m else 0
    nan = float("nan")
    return rps, pct.get("50", nan), pct.get("90", nan), pct.get("99", nan), mx, errs


if __name__ == "__main__":
    rps, p50, p90, p99, mx, errs = summary(sys.argv[1])
    print(f"{rps:.0f} {p50:.2f} {p90:.2f} {p99:.2f} {mx:.2f} {errs}")
