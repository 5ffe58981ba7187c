"""What the trace checkers share: a job's Chrome trace (`flowps submit
--trace N`) loaded as Perfetto reads it, and checks that print one line each.

    doc, events, processes, threads = load(path)
      processes: pid -> process name ("worker:0 (chief)"),
      threads: (pid, tid) -> track name ("/job:worker/task:0/device:cpu:1 #0")
    checks = Checks(); checks.check(ok, "what"); sys.exit(checks.exit_code())"""
import json


def load(path):
    with open(path) as f:
        doc = json.load(f)
    events = doc["traceEvents"]
    processes = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"]
               for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    return doc, events, processes, threads


def end(span):
    return span["ts"] + span["dur"]


class Checks:
    def __init__(self):
        self.failures = []

    def check(self, ok, what):
        print(("ok: " if ok else "FAIL: ") + what)
        if not ok:
            self.failures.append(what)

    def exit_code(self):
        return 1 if self.failures else 0
