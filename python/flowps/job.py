"""A job: a graph with its roles plus how to train it, saved as the job spec
YAML that ``flowps submit`` reads (README.md, "Job spec") and a graph file
beside it (``model.graph_file``). The pair is the unit a user hands around.

    job = fp.Job("mlp", g, loss=loss, metrics={"accuracy": fp.accuracy(logits, y)},
                 data=fp.data.idx("/usr/share/datasets/fashion-mnist", feeds={x: "images", y: "labels"}),
                 optimizer=fp.optimizers.Adam(0.001), mode=fp.Sync(total_workers=2), epochs=3)
    job.save("runs/mlp/job.yaml")      # and runs/mlp/job.graph
"""
import json
import os

from . import _flowps


class IdxData:
    """An MNIST-style folder of IDX files whose columns "images" and "labels" feed placeholders."""

    def __init__(self, path, feeds, batch_size=64, shuffle=True, seed=0):
        self.path, self.feeds = path, dict(feeds)
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)

    def spec(self):
        return {"path": os.path.abspath(self.path), "batch_size": self.batch_size, "shuffle": self.shuffle,
                "seed": self.seed}


class _Optimizer:
    def __init__(self, type, learning_rate, **params):
        self.type, self.learning_rate, self.params = type, float(learning_rate), params

    def spec(self):
        return {"type": self.type, "learning_rate": self.learning_rate, **self.params}


class optimizers:
    """The ps-side optimizers of the job spec."""

    @staticmethod
    def SGD(learning_rate):
        return _Optimizer("sgd", learning_rate)

    @staticmethod
    def Momentum(learning_rate, momentum=0.9, nesterov=False):
        return _Optimizer("momentum", learning_rate, momentum=float(momentum), nesterov=bool(nesterov))

    @staticmethod
    def Adagrad(learning_rate, initial_accumulator=0.1, epsilon=1e-8):
        return _Optimizer("adagrad", learning_rate, initial_accumulator=float(initial_accumulator),
                          epsilon=float(epsilon))

    @staticmethod
    def Adam(learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
        return _Optimizer("adam", learning_rate, beta1=float(beta1), beta2=float(beta2), epsilon=float(epsilon))


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
                 log_every_steps=100, eval_every_steps=0, run_dir=None):
        if (epochs is None) == (steps is None):
            raise ValueError("give exactly one of epochs and steps")
        self.name, self.graph, self.loss, self.metrics = name, graph, loss, dict(metrics or {})
        self.data, self.optimizer, self.mode = data, optimizer, mode
        self.epochs, self.steps = epochs, steps
        self.log_every_steps, self.eval_every_steps, self.run_dir = log_every_steps, eval_every_steps, run_dir

    def spec(self, graph_file):
        train = {"epochs": float(self.epochs)} if self.epochs is not None else {"steps": int(self.steps)}
        train.update(log_every_steps=int(self.log_every_steps), eval_every_steps=int(self.eval_every_steps))
        out = {"name": self.name, "model": {"graph_file": graph_file}, "data": self.data.spec(),
               "optimizer": self.optimizer.spec(), "mode": self.mode.spec(), "train": train}
        if self.run_dir:
            out["run_dir"] = self.run_dir
        return out

    def save(self, path):
        """Sets the graph's roles, refuses an incomplete model (flowps.Error naming
        the node), writes the graph beside ``path`` (same name, ``.graph``) and the
        job spec to ``path``, then reads the spec back with flowps's own loader.
        Returns the graph file's path."""
        self.graph.set_roles(self.data.feeds, self.loss, self.metrics)
        self.graph.validate()
        stem = os.path.splitext(path)[0]
        graph_path = stem + ".graph"
        self.graph.save(graph_path)
        with open(path, "w") as f:
            f.write(f"# flowps job written by flowps.Job.save; the model is {os.path.basename(graph_path)}\n")
            _write_yaml(f, self.spec(os.path.basename(graph_path)), 0)
        _flowps.check_job_spec(path)
        return graph_path


def _write_yaml(f, mapping, indent):
    for key, value in mapping.items():
        if isinstance(value, dict):
            f.write(" " * indent + f"{key}:\n")
            _write_yaml(f, value, indent + 2)
        else:
            f.write(" " * indent + f"{key}: {json.dumps(value)}\n")
