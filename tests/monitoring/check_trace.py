#!/usr/bin/env python3
"""Checks a job's Chrome trace (`flowps submit --trace N`) as a user loading it
into Perfetto would need it: every span's parent and task exist, every task of
the cluster is there, the executor's nodes, the workers' RPCs and the shards'
aggregation and apply are recorded, the spans of a step nest in time within
their parent (up to the clock-alignment error the file states), and a worker's
pushPull RPC overlaps the shard's apply of that step.

    check_trace.py TRACE.json --ps P --workers W --steps N
Prints one line per failed check and exits 1 if any failed."""
import argparse
import sys
from collections import defaultdict

from trace_file import Checks, end, load

ap = argparse.ArgumentParser()
ap.add_argument("trace")
ap.add_argument("--ps", type=int, required=True)
ap.add_argument("--workers", type=int, required=True)
ap.add_argument("--steps", type=int, required=True)
a = ap.parse_args()

doc, events, processes, threads = load(a.trace)
checks = Checks()
check = checks.check
spans = [e for e in events if e["ph"] == "X"]
by_id = {s["args"]["id"]: s for s in spans}
expected = {"ps:%d" % k for k in range(a.ps)} | {"worker:%d" % i for i in range(a.workers)}
names = {n.split(" ")[0] for n in processes.values()}
check(names == expected, "one process per task of the cluster: %s" % sorted(processes.values()))
check(any(n.endswith("(chief)") for n in processes.values()), "the chief is marked")
check(len(by_id) == len(spans), "span ids are unique (%d spans)" % len(spans))
check(all(s["pid"] in processes for s in spans), "every span's pid is a task")
check(all((s["pid"], s["tid"]) in threads for s in spans), "every span's track is named")
missing = [s for s in spans if s["args"]["parent"] != 0 and s["args"]["parent"] not in by_id]
check(not missing, "every span's parent exists (%d do not)" % len(missing))
spans_of = defaultdict(list)
for s in spans:
    spans_of[processes[s["pid"]].split(" ")[0]].append(s)
check(all(spans_of[t] for t in expected), "every task recorded spans: %s" % {t: len(spans_of[t]) for t in sorted(expected)})

for i in range(a.workers):
    w = spans_of["worker:%d" % i]
    steps = [s for s in w if s["name"] == "step"]
    check(len(steps) == a.steps, "worker:%d traced %d steps (%d)" % (i, a.steps, len(steps)))
    check(any(s["cat"] == "node" and s["args"].get("detail") == "MatMul" for s in w),
          "worker:%d: executor node spans (MatMul) on its device tracks" % i)
    check(any(s["cat"] == "node" and threads[(s["pid"], s["tid"])].startswith("/job:worker/") for s in w),
          "worker:%d: node tracks are named after the device" % i)
    check(sum(1 for s in w if s["cat"] == "rpc" and s["name"] == "pushPull") >= a.ps * a.steps,
          "worker:%d: a pushPull RPC span per shard and step" % i)
    phases = {s["name"] for s in w if s["cat"] == "step"}
    check({"step", "compute", "push", "pull"} <= phases, "worker:%d: the step phases %s" % (i, sorted(phases)))
for k in range(a.ps):
    p = spans_of["ps:%d" % k]
    check(sum(1 for s in p if s["name"] == "apply") >= a.steps, "ps:%d: an apply span per traced step" % k)
    check(any(s["name"] == "aggregate" for s in p), "ps:%d: aggregate spans (sync, pushes counted towards a step)" % k)
    check(any(s["name"] == "wait" for s in p), "ps:%d: wait spans (the step's release)" % k)

# Nesting, within the alignment error of the two tasks (microseconds).
error_us = {}
for name, t in doc["otherData"]["tasks"].items():
    error_us[t["pid"]] = t["clock_error_us"]


bad = []
for s in spans:
    parent = by_id.get(s["args"]["parent"])
    if parent is None:
        continue
    slack = 2.0 + (0 if parent["pid"] == s["pid"] else error_us[parent["pid"]] + error_us[s["pid"]])
    if s["ts"] < parent["ts"] - slack or end(s) > end(parent) + slack:
        bad.append("%s (%s) outside %s (%s) by %.1f/%.1f us" % (s["name"], processes[s["pid"]], parent["name"],
                                                               processes[parent["pid"]], parent["ts"] - s["ts"],
                                                               end(s) - end(parent)))
check(not bad, "every span lies within its parent's time (%d do not%s)" % (len(bad), ": " + bad[0] if bad else ""))
cross = [s for s in spans if s["args"]["parent"] in by_id and by_id[s["args"]["parent"]]["pid"] != s["pid"]]
check(cross and all(by_id[s["args"]["parent"]]["cat"] == "rpc" for s in cross),
      "the shards' spans hang under the workers' RPC spans (%d)" % len(cross))

# A worker's pushPull RPC overlaps the shard's apply of the same step.
for k in range(a.ps):
    for apply in [s for s in spans_of["ps:%d" % k] if s["name"] == "apply"]:
        step = apply["args"].get("step")
        slack = 2.0 + error_us[apply["pid"]] + max(error_us.values())
        rpcs = [s for i in range(a.workers) for s in spans_of["worker:%d" % i]
                if s["cat"] == "rpc" and s["args"].get("step") == step and s["args"].get("detail") == "ps:%d" % k]
        overlapping = [r for r in rpcs if r["ts"] - slack <= end(apply) and apply["ts"] <= end(r) + slack]
        check(overlapping, "ps:%d's apply of step %s overlaps a worker's pushPull RPC of that step" % (k, step))

sys.exit(checks.exit_code())
