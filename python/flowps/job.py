"""A job: a graph with its roles plus how to train it, saved as the job spec
YAML that ``flowps submit`` reads (README.md, "Job spec") and a graph file
beside it (``model.graph_file``). The pair is the unit a user hands around.

    job = fp.Job("mlp", g, loss=loss, metrics={"accuracy": fp.accuracy(logits, y)},
                 data=fp.data.idx("/usr/share/datasets/fashion-mnist", feeds={x: "features", y: "label"}),
                 optimizer=fp.optimizers.Adam(0.001), mode=fp.Sync(total_workers=2), epochs=3)
    job.save("runs/mlp/job.yaml")      # and runs/mlp/job.graph
    result = job.submit(cluster="configs/local-2x2.yaml", wait=True)   # progress lines, then the final metrics
"""
import json
import os
import sys
import tempfile
import time

from . import _flowps


class IdxData:
    """An MNIST-style folder of IDX files whose columns "features" and "label" feed placeholders."""

    def __init__(self, path, feeds, batch_size=64, shuffle=True, seed=0):
        self.path, self.feeds = path, dict(feeds)
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)

    def spec(self):
        return {"path": os.path.abspath(self.path), "batch_size": self.batch_size, "shuffle": self.shuffle,
                "seed": self.seed}


class LibsvmData:
    """libsvm files (train, and test for the evaluation): the columns "label"
    (int32), "ids" (ragged int64 keys, for embedding tables) and its
    "offsets" (int64 [batch + 1]) feed the placeholders in ``feeds``."""

    def __init__(self, train, test, feeds, batch_size=64, shuffle=True, seed=0):
        self.train, self.test, self.feeds = train, test, dict(feeds)
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)

    def spec(self):
        out = {"format": "libsvm", "train": os.path.abspath(self.train), "batch_size": self.batch_size,
               "shuffle": self.shuffle, "seed": self.seed}
        if self.test:
            out["test"] = os.path.abspath(self.test)
        return out


class TextData:
    """Text files (a file, a folder or a glob) read as byte sequences of
    ``sequence_length``: columns "tokens" (the bytes) and "targets" (the next
    bytes), int32 [sequence_length], feeding the placeholders in ``feeds``."""

    def __init__(self, train, feeds, sequence_length, test=None, batch_size=32, shuffle=True, seed=0,
                 contiguous=False):
        """``contiguous``: each batch row continues the text of the row before it
        (data.contiguous; no shuffling), for a graph whose state roles carry
        the recurrent state across steps."""
        self.train, self.test, self.feeds = train, test, dict(feeds)
        self.sequence_length, self.batch_size = int(sequence_length), int(batch_size)
        self.contiguous = bool(contiguous)
        self.shuffle, self.seed = bool(shuffle) and not self.contiguous, int(seed)

    def spec(self):
        out = {"format": "text", "train": self.train, "sequence_length": self.sequence_length,
               "batch_size": self.batch_size, "shuffle": self.shuffle, "seed": self.seed}
        if self.contiguous:
            out["contiguous"] = True
        if self.test:
            out["test"] = self.test
        return out


class _Optimizer:
    def __init__(self, type, learning_rate, clip_norm=None, **params):
        self.type, self.learning_rate, self.params = type, float(learning_rate), params
        if clip_norm is not None:
            self.params["clip_norm"] = float(clip_norm)

    def spec(self):
        return {"type": self.type, "learning_rate": self.learning_rate, **self.params}


class optimizers:
    """The ps-side optimizers of the job spec. ``clip_norm`` (any of them): each
    worker clips a step's gradients to that global norm before pushing them."""

    @staticmethod
    def SGD(learning_rate, clip_norm=None):
        return _Optimizer("sgd", learning_rate, clip_norm)

    @staticmethod
    def Momentum(learning_rate, momentum=0.9, nesterov=False, clip_norm=None):
        return _Optimizer("momentum", learning_rate, clip_norm, momentum=float(momentum), nesterov=bool(nesterov))

    @staticmethod
    def Adagrad(learning_rate, initial_accumulator=0.1, epsilon=1e-8, clip_norm=None):
        return _Optimizer("adagrad", learning_rate, clip_norm, initial_accumulator=float(initial_accumulator),
                          epsilon=float(epsilon))

    @staticmethod
    def Adam(learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8, clip_norm=None):
        return _Optimizer("adam", learning_rate, clip_norm, beta1=float(beta1), beta2=float(beta2),
                          epsilon=float(epsilon))

    @staticmethod
    def Ftrl(learning_rate, l1=0.0, l2=0.0, initial_accumulator=0.1):
        """FTRL-Proximal (McMahan et al. 2013) with L1 and L2: the optimizer of wide linear models."""
        return _Optimizer("ftrl", learning_rate, l1=float(l1), l2=float(l2),
                          initial_accumulator=float(initial_accumulator))


class Sync:
    """Synchronous training: each step averages one gradient per aggregated worker."""

    def __init__(self, total_workers=1, backup_workers=0):
        self.total_workers, self.backup_workers = int(total_workers), int(backup_workers)

    def spec(self):
        return {"type": "sync", "total_workers": self.total_workers, "backup_workers": self.backup_workers}


class Async:
    """Asynchronous training; ``max_staleness`` None is unbounded."""

    def __init__(self, total_workers=1, max_staleness=None, staleness_policy="refuse", prefetch=False):
        self.total_workers, self.max_staleness = int(total_workers), max_staleness
        self.staleness_policy, self.prefetch = staleness_policy, bool(prefetch)

    def spec(self):
        out = {"type": "async", "total_workers": self.total_workers, "prefetch": self.prefetch}
        if self.max_staleness is not None:
            out.update(max_staleness=int(self.max_staleness), staleness_policy=self.staleness_policy)
        return out


class Job:
    def __init__(self, name, graph, loss, data, optimizer, mode, metrics=None, epochs=None, steps=None,
                 log_every_steps=100, eval_every_steps=0, run_dir=None, soft_placement=False,
                 tables=(), states=None):
        """``optimizer`` trains the graph's variables; each of ``tables``
        (fp.EmbeddingTable, looked up by the graph) has its own. ``states``
        ({initial placeholder: final value}) is carried from step to step by
        each worker when the data is contiguous (Graph.set_roles)."""
        self.states = dict(states or {})
        if (epochs is None) == (steps is None):
            raise ValueError("give exactly one of epochs and steps")
        self.tables = list(tables)
        self.name, self.graph, self.loss, self.metrics = name, graph, loss, dict(metrics or {})
        self.data, self.optimizer, self.mode = data, optimizer, mode
        self.epochs, self.steps = epochs, steps
        self.log_every_steps, self.eval_every_steps, self.run_dir = log_every_steps, eval_every_steps, run_dir
        # A node asking (fp.device) for a device its worker lacks runs on the worker's first device.
        self.soft_placement = bool(soft_placement)

    def spec(self, graph_file):
        train = {"epochs": float(self.epochs)} if self.epochs is not None else {"steps": int(self.steps)}
        train.update(log_every_steps=int(self.log_every_steps), eval_every_steps=int(self.eval_every_steps))
        model = {"graph_file": graph_file}
        if self.soft_placement:
            model["soft_placement"] = True
        out = {"name": self.name, "model": model, "data": self.data.spec(),
               "optimizer": self.optimizer.spec(), "mode": self.mode.spec(), "train": train}
        if self.run_dir:
            out["run_dir"] = self.run_dir
        if self.tables:
            out["tables"] = {t.name: t.spec() for t in self.tables}
        return out

    def save(self, path):
        """Sets the graph's roles, refuses an incomplete model (flowps.Error naming
        the node), writes the graph beside ``path`` (same name, ``.graph``) and the
        job spec to ``path``, then reads the spec back with flowps's own loader.
        Returns the graph file's path."""
        self.graph.set_roles(self.data.feeds, self.loss, self.metrics, self.states)
        self.graph.validate()
        stem = os.path.splitext(path)[0]
        graph_path = stem + ".graph"
        self.graph.save(graph_path)
        with open(path, "w") as f:
            f.write(f"# flowps job written by flowps.Job.save; the model is {os.path.basename(graph_path)}\n")
            _write_yaml(f, self.spec(os.path.basename(graph_path)), 0)
        _flowps.check_job_spec(path)
        self.saved_path = path
        return graph_path

    def submit(self, cluster, wait=True, poll_s=1.0, timeout_ms=5000, path=None, out=sys.stdout):
        """Saves the job (to ``path``, else where it was last saved, else a fresh
        temporary folder) and hands it, with its graph's bytes, to the chief of
        the cluster spec ``cluster`` (a YAML path), as ``flowps submit`` does.
        With ``wait`` prints a progress line to ``out`` as the job advances and
        returns the final metrics: {"accuracy": .., "loss": .., other metrics of
        the roles .., "global_step": .., "seconds": ..}; without, returns None.
        Raises flowps.Error when the job is refused (naming the file and key or
        the node), when the cluster does not answer, or when the job fails."""
        path = path or getattr(self, "saved_path", None) or os.path.join(tempfile.mkdtemp(prefix="flowps-job-"),
                                                                          "job.yaml")
        self.save(path)
        _flowps.submit_job_file(str(cluster), path, int(timeout_ms))
        print(f"flowps: job '{self.name}' accepted by the chief", file=out, flush=True)
        if not wait:
            return None
        return _follow(self.name, str(cluster), poll_s, int(timeout_ms), out)


def submit_file(job_path, cluster, wait=True, poll_s=1.0, timeout_ms=5000, out=sys.stdout):
    """Submits a saved job file (a built-in model's or one written by Job.save)
    to the cluster, as ``flowps submit`` does; with ``wait`` follows it like
    Job.submit and returns its final metrics."""
    _flowps.submit_job_file(str(cluster), str(job_path), int(timeout_ms))
    if not wait:
        return None
    return _follow(str(job_path), str(cluster), poll_s, int(timeout_ms), out)


def cluster_status(cluster, timeout_ms=2000):
    """The job as the chief of the cluster sees it (a dict; "reachable" False when it does not answer)."""
    return _flowps.chief_status(str(cluster), int(timeout_ms))


def _follow(name, cluster, poll_s, timeout_ms, out):
    """Polls the chief until the job ends; the final metrics, or raises."""
    unreachable, last = 0, None
    while True:
        time.sleep(poll_s)
        st = _flowps.chief_status(cluster, timeout_ms)
        if not st["reachable"]:
            unreachable += 1
            if unreachable >= 10:
                raise _flowps.Error(f"lost the chief of {cluster}: {st['error']}")
            continue
        unreachable = 0
        state = st["state"]
        if state == "done":
            result = dict(st["test_metrics"])
            if st["test_accuracy"] >= 0:
                result["accuracy"] = st["test_accuracy"]
            result.update(global_step=st["global_step"], seconds=st["elapsed_seconds"])
            print(f"flowps: job '{name}' done at step {st['global_step']}: " + _format(st["test_metrics"]),
                  file=out, flush=True)
            if st.get("sample"):
                result["sample"] = st["sample"]
                print("flowps: sample of the trained model:\n" + st["sample"], file=out, flush=True)
            return result
        if state in ("failed", "stopped", "idle"):
            raise _flowps.Error(f"job '{name}' {state}" + (f": {st['error']}" if st["error"] else ""))
        now = (st["global_step"], tuple(sorted(st["test_metrics"].items())))
        if now == last:
            continue
        last = now
        total = st["total_steps"]
        pct = 100.0 * st["global_step"] / total if total else 0.0
        metrics = _format(st["test_metrics"])
        print(f"flowps: step {st['global_step']}/{total} ({pct:.1f}%)  loss {st['loss']:.4f}  "
              f"{st['examples_per_sec']:.0f} examples/s" + (f"  test {metrics}" if metrics else ""),
              file=out, flush=True)


def _format(metrics):
    return ", ".join(f"{k} {100 * v:.2f}%" if k == "accuracy" else f"{k} {v:.4f}" for k, v in sorted(metrics.items()))


def _write_yaml(f, mapping, indent):
    for key, value in mapping.items():
        if isinstance(value, dict):
            f.write(" " * indent + f"{key}:\n")
            _write_yaml(f, value, indent + 2)
        else:
            f.write(" " * indent + f"{key}: {json.dumps(value)}\n")
