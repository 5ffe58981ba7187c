#!/usr/bin/env python3
"""Checks a job's Chrome trace (`flowps submit --trace N`) as a user loading it
into Perfetto would need it: every span's parent and task exist, every task of
the cluster is there, the executor's nodes, the workers' RPCs and the shards'
aggregation and apply are recorded, the spans of a step nest in time within
their parent (up to the clock-alignment error the file states), and a worker's
pushPull RPC overlaps the shard's apply of that step. Every step's spans
carry its number: its compute, push and pull hang under it, and the input
thread's work on its batch is a root span with that number.

    check_trace.py TRACE.json --ps P --workers W --steps N [--async [--all-applied]] [--prefetch]
--async: no aggregation or release wait; every pushPull RPC of a traced step
has the shard's outcome under it (none was lost after a collection), and that
outcome is apply or stale, never duplicate: no push was resent, and with
prefetch the two pushes computed from the same parameters are told apart by
their seq. --all-applied: that outcome is apply, every time.
--prefetch: each step's compute overlaps the previous step's push.
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
ap.add_argument("--async", dest="is_async", action="store_true")
ap.add_argument("--all-applied", action="store_true")
ap.add_argument("--prefetch", action="store_true")
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
in_flight = {n: t.get("in_flight") for n, t in doc["otherData"]["tasks"].items()}
check(all(v == 0 for v in in_flight.values()), "no task had spans in flight when the file was written: %s" % in_flight)
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
    if a.is_async:  # what the shard did with each push (--all-applied: apply)
        check(sum(1 for s in p if s["name"] in ("apply", "stale", "duplicate")) >= a.steps,
              "ps:%d: an outcome span per traced step" % k)
    else:
        check(sum(1 for s in p if s["name"] == "apply") >= a.steps, "ps:%d: an apply span per traced step" % k)
        check(any(s["name"] == "aggregate" for s in p), "ps:%d: aggregate spans (sync, pushes counted towards a step)" % k)
        check(any(s["name"] == "wait" for s in p), "ps:%d: wait spans (the step's release)" % k)


def children(span, name):
    return [s for s in spans if s["args"]["parent"] == span["args"]["id"] and s["name"] == name]


# Each step's own spans carry its number (with prefetch too, where the next
# step's compute runs under this step's push).
for i in range(a.workers):
    w = spans_of["worker:%d" % i]
    steps = sorted((s for s in w if s["name"] == "step"), key=lambda s: s["ts"])
    inputs = [s for s in w if s["name"] == "input"]
    unfiled = []
    for st in steps:
        for phase in ("compute", "push", "pull"):
            mine = children(st, phase)
            if len(mine) != 1 or mine[0]["args"].get("step") != st["args"].get("step"):
                unfiled.append("%s of %s" % (phase, st["args"].get("detail")))
        if sum(1 for s in inputs if s["args"].get("detail") == st["args"].get("detail") and
               s["args"].get("step") == st["args"].get("step") and s["args"]["parent"] == 0) != 1:
            unfiled.append("input of %s" % st["args"].get("detail"))
    check(steps and not unfiled, "worker:%d: each step's compute, push, pull and input carry its number (%s)" %
          (i, ", ".join(unfiled) or "all"))
    if a.prefetch:
        # Step n+1 computes while step n's push is in flight.
        apart = []
        for st, nxt in zip(steps, steps[1:]):
            push, compute = children(st, "push"), children(nxt, "compute")
            if not push or not compute or not (push[0]["ts"] <= compute[0]["ts"] < end(push[0])):
                apart.append("%s / %s" % (st["args"].get("detail"), nxt["args"].get("detail")))
        check(len(steps) > 1 and not apart,
              "worker:%d: each step's compute overlaps the previous step's push (%s)" % (i, ", ".join(apart) or "all"))

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

if a.is_async:
    # No span lost after a collection: every traced pushPull RPC has the shard's outcome under it.
    def under(s, ancestor_id):
        while s is not None and s["args"]["parent"] != 0:
            if s["args"]["parent"] == ancestor_id:
                return True
            s = by_id.get(s["args"]["parent"])
        return False
    outcomes = [s for s in spans if s["name"] in ("apply", "stale", "duplicate") and processes[s["pid"]].startswith("ps:")]
    rpcs = [s for s in spans if s["cat"] == "rpc" and s["name"] == "pushPull"]
    got = defaultdict(int)
    lacking = 0
    for r in rpcs:
        mine = [o["name"] for o in outcomes if under(o, r["args"]["id"])]
        got["/".join(mine) or "none"] += 1
        lacking += 0 if mine else 1
    check(rpcs and not lacking, "every pushPull RPC of a traced step has the shard's outcome under it (%s)" % dict(got))
    dropped = sum(n for outcome, n in got.items() if "duplicate" in outcome.split("/"))
    check(dropped == 0, "no traced push was dropped as a duplicate (%s)" % dict(got))
    if a.all_applied:
        check(got == {"apply": len(rpcs)}, "every traced push was applied (%s)" % dict(got))

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
