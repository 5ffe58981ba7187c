"""A local flowps cluster for tests: flowps-ps and flowps-worker processes on
free loopback ports, in a temporary folder (spec, token, logs) that goes with it.

    with LocalCluster(ps=1, workers=1) as cluster:
        job.submit(cluster=cluster.spec, wait=True)
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import flowps as fp

BIN_DIR = os.environ.get("FLOWPS_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build", "src", "cli"))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    def __init__(self, ps=1, workers=1, threads=2, devices=None):
        """``devices``: every worker's devices (e.g. ["cpu:0", "cpu:1"]); None: the default one."""
        self.ps, self.workers, self.threads, self.devices = ps, workers, threads, devices
        self.dir = tempfile.mkdtemp(prefix="flowps_py_cluster_")
        self.spec = os.path.join(self.dir, "cluster.yaml")
        self.processes = []

    def __enter__(self):
        with open(os.path.join(self.dir, "token"), "w") as f:
            f.write("py-test-token\n")
        lines = ["token_file: token", "jobs:", "  ps:", "    tasks:"]
        lines += [f"      - address: 127.0.0.1:{_free_port()}" for _ in range(self.ps)]
        lines += ["  worker:", "    chief: 0", "    tasks:"]
        for _ in range(self.workers):
            lines.append(f"      - address: 127.0.0.1:{_free_port()}")
            if self.devices:
                lines.append(f"        devices: [{', '.join(self.devices)}]")
        with open(self.spec, "w") as f:
            f.write("\n".join(lines) + "\n")
        for job, n in (("ps", self.ps), ("worker", self.workers)):
            for i in range(n):
                log = open(os.path.join(self.dir, f"{job}{i}.log"), "w")
                self.processes.append(subprocess.Popen(
                    [os.path.join(BIN_DIR, f"flowps-{job}"), "--cluster", self.spec, "--task", str(i),
                     "--threads", str(self.threads)], stdout=log, stderr=subprocess.STDOUT))
        self._wait_healthy()
        return self

    def _wait_healthy(self, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if fp.cluster_status(self.spec)["reachable"]:
                return
            time.sleep(0.2)
        raise RuntimeError("the local cluster did not answer:\n" + self.logs())

    def logs(self):
        out = ""
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name)) as f:
                    out += f"==== {name}\n{f.read()}"
        return out

    def __exit__(self, *exc):
        for p in self.processes:
            p.kill()
        for p in self.processes:
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
