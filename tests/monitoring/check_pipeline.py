#!/usr/bin/env python3
"""Checks a model-parallel job's Chrome trace (`flowps submit --trace N` of a
layered LSTM such as the built-in lstm_lm, layer d on device d) for what the
talks promise of pipelining, and measures it:

  - each worker's executor recorded kernels on a track of each of its
    `--devices` devices (tracks "<device> #k" and "<device> async" belong to
    <device>);
  - every forward cell of the unrolled layers is there: nodes named
    ".../lstm<d>/t<t>/..." (graph/layers.h names step t's nodes "t<t>");
  - layer d at time t overlaps layer d+1 at time t-1: in some traced step
    cell (d, t) was in flight (from its first kernel's start to its last
    one's end; constants left out) while cell (d+1, t-1) was.

It prints, per worker, the cells that overlapped out of those that could
(d = 0..L-2, t = 1..T-1, every traced step): in flight together with (d+1,
t-1), with (d+1, any earlier t), and with a kernel of each running at the same
instant (the pool's threads bound that: 2 on a 2-core machine); and the
measured device overlap:
the share of the time some device ran a kernel (Send and Recv are no work)
during which kernels of two or more devices ran, as `flowps bench
model-parallel` reports it (graph/device_overlap.h).

    check_pipeline.py TRACE.json --workers W --devices D --layers L [--layer-prefix lstm]
Prints one line per check and exits 1 if any failed."""
import argparse
import re
import sys
from collections import defaultdict

from trace_file import Checks, end, load

ap = argparse.ArgumentParser()
ap.add_argument("trace")
ap.add_argument("--workers", type=int, required=True)
ap.add_argument("--devices", type=int, required=True)
ap.add_argument("--layers", type=int, required=True)
ap.add_argument("--layer-prefix", default="lstm", help="layer d's name scope is <prefix><d> (lstm_lm: lstm)")
a = ap.parse_args()

doc, events, processes, threads = load(a.trace)
checks = Checks()
check = checks.check


def track_device(track):
    for suffix in (" async", " #"):
        at = track.rfind(suffix)
        if at >= 0:
            return track[:at]
    return track


def device_overlap(spans):
    """(busy us, us with kernels of >= 2 devices) of node spans tagged with "device"."""
    edges = []
    for s in spans:
        if s["args"].get("detail") in ("Send", "Recv"):
            continue
        edges.append((s["ts"], 1, s["device"]))
        edges.append((end(s), -1, s["device"]))
    edges.sort(key=lambda e: (e[0], e[1]))  # ends first at a tie
    running = defaultdict(int)
    busy = overlap = 0.0
    for i, (at, delta, device) in enumerate(edges):
        running[device] += delta
        if i + 1 < len(edges):
            n = sum(1 for v in running.values() if v > 0)
            gap = edges[i + 1][0] - at
            busy += gap if n >= 1 else 0
            overlap += gap if n >= 2 else 0
    return busy, overlap


cell_name = re.compile(r"(?:^|/)%s(\d+)/t(\d+)/" % re.escape(a.layer_prefix))
for i in range(a.workers):
    pid = [p for p, n in processes.items() if n.split(" ")[0] == "worker:%d" % i]
    check(len(pid) == 1, "worker:%d has a process in the trace" % i)
    if len(pid) != 1:
        continue
    nodes = [e for e in events if e["ph"] == "X" and e["pid"] == pid[0] and e["cat"] == "node"]
    for s in nodes:
        s["device"] = track_device(threads.get((s["pid"], s["tid"]), "?"))
    devices = sorted({s["device"] for s in nodes})
    check(len(devices) == a.devices and all(d.startswith("/job:worker/") for d in devices),
          "worker:%d: kernels on a track of each of its %d devices: %s" % (i, a.devices, devices))
    cells = defaultdict(list)  # (step, d, t) -> forward kernel spans
    for s in nodes:
        m = cell_name.search(s["name"])
        # Constants (a cell's forget bias) run at once, before the cell's inputs exist.
        if m and not s["name"].startswith("gradients/") and s["args"].get("detail") not in ("Send", "Recv", "Const"):
            cells[(s["args"].get("step"), int(m.group(1)), int(m.group(2)))].append(s)
    steps = sorted({k[0] for k in cells})
    t_steps = 1 + max((k[2] for k in cells), default=-1)
    have_all = bool(steps) and all((st, d, t) in cells for st in steps for d in range(a.layers) for t in range(t_steps))
    check(have_all, "worker:%d: every forward cell (%d layers x %d time steps) in each of the %d traced steps" %
          (i, a.layers, t_steps, len(steps)))
    wrong = [k for k, v in cells.items() if len({s["device"] for s in v}) != 1]
    check(not wrong, "worker:%d: each cell's kernels on one device (%d cells are split)" % (i, len(wrong)))
    def kernels_overlap(c1, c2):  # a kernel of c1 ran at the same instant as one of c2
        return any(x["ts"] < end(y) and y["ts"] < end(x) for x in cells.get(c1, []) for y in cells.get(c2, []))

    def in_flight(c):  # from the cell's first kernel's start to its last one's end
        return min(x["ts"] for x in cells[c]), max(end(x) for x in cells[c])

    def cells_overlap(c1, c2):
        if c1 not in cells or c2 not in cells:
            return False
        (a0, a1), (b0, b1) = in_flight(c1), in_flight(c2)
        return a0 < b1 and b0 < a1

    pairs = in_flight_pairs = kernel_pairs = pipelined = 0
    for st in steps:
        for d in range(a.layers - 1):
            for t in range(1, t_steps):
                pairs += 1
                in_flight_pairs += cells_overlap((st, d, t), (st, d + 1, t - 1))
                kernel_pairs += kernels_overlap((st, d, t), (st, d + 1, t - 1))
                # Looser: layer d at t in flight while layer d+1 works on any earlier time step.
                pipelined += any(cells_overlap((st, d, t), (st, d + 1, u)) for u in range(t))
    check(in_flight_pairs > 0, "worker:%d: layer d at time t in flight while layer d+1 works on time t-1 in %d of %d "
          "cells" % (i, in_flight_pairs, pairs))
    busy, both = device_overlap(nodes)
    print("worker:%d: measured device overlap %.1f%% of %.1f ms busy (kernels of >= 2 devices at once); "
          "cells (d, t) in flight with (d+1, t-1) %d/%d, with (d+1, any earlier t) %d/%d, "
          "a kernel of (d, t) at the same instant as one of (d+1, t-1) %d/%d; %d traced steps" %
          (i, 100.0 * both / busy if busy else 0.0, busy / 1000.0, in_flight_pairs, pairs, pipelined, pairs,
           kernel_pairs, pairs, len(steps)))

sys.exit(checks.exit_code())
