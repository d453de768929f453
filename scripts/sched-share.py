#!/usr/bin/env python3
"""Where the benchmark's processes spent the wall time (used by scripts/bench-agent.sh).

    scripts/sched-share.py NAME=PID... (stops at SIGTERM, then prints one line)

Samples every thread of each process every 0.2 s from /proc/PID/task/TID/schedstat (time
on a CPU, time runnable but waiting for one) and, at the end, prints per process the
share of the elapsed wall time it ran and waited, summed over its threads (several
threads can wait at once: a share over 100% means that), plus how busy each core was.
A thread that exits keeps its last sample; one that lives less than 0.2 s is missed.
"""
import os
import signal
import sys
import time

procs = [a.split("=", 1) for a in sys.argv[1:]]
seen = {name: {} for name, _ in procs}  # name -> tid -> (run ns, wait ns) at first sight
last = {name: {} for name, _ in procs}  # name -> tid -> latest (run ns, wait ns)


def cores():
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = list(map(int, line.split()[1:9]))
                out[line.split()[0]] = (sum(v), v[3] + v[4])
    return out


def sample():
    for name, pid in procs:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    run, wait, _ = map(int, f.read().split())
            except (OSError, ValueError):
                continue
            seen[name].setdefault(tid, (run, wait) if first else (0, 0))
            last[name][tid] = (run, wait)


stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
first = True
start, cores0 = time.monotonic(), cores()
sample()
first = False
while not stop:
    time.sleep(0.2)
    sample()
elapsed, cores1 = time.monotonic() - start, cores()
parts = []
for name, _ in procs:
    run = sum(r - seen[name][t][0] for t, (r, _) in last[name].items())
    wait = sum(w - seen[name][t][1] for t, (_, w) in last[name].items())
    parts.append(f"{name}_ran={100 * run / 1e9 / elapsed:.0f}% {name}_waited_for_cpu={100 * wait / 1e9 / elapsed:.0f}%")
for c in sorted(cores1):
    total, idle = cores1[c][0] - cores0[c][0], cores1[c][1] - cores0[c][1]
    parts.append(f"{c}_busy={100 * (total - idle) / max(total, 1):.0f}%")
print(" ".join(parts) + f" (over {elapsed:.1f}s)")
