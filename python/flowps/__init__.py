"""flowps for Python: build a graph as in TensorFlow 1.x, run it locally, save it for a cluster.

    import numpy as np
    import flowps as fp

    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 4], name="x")
        W = fp.variable("W", [4, 2], init=fp.init.glorot_uniform(seed=1))
        y = fp.relu(fp.matmul(x, W))
    sess = fp.Session(g)
    sess.run(fp.initialize_variables())
    print(sess.run(y, feed_dict={x: np.ones((3, 4), np.float32)}))

Every op of the C++ registry is a function here, named in snake_case
(``SparseSoftmaxCrossEntropyWithLogits`` -> ``sparse_softmax_cross_entropy_with_logits``),
generated at import: ``fp.op_names()`` lists them. An op takes its input
tensors positionally (a list for a variadic op such as ``concat``) and its
attributes by keyword; a list attribute named ``shape`` (or ``*_shape``) is a
shape, where None means an unknown dim. An op with one output returns it (a
:class:`Tensor`); an op with several returns the list of all of them (``split``
always returns a list). As in TensorFlow, ``sparse_softmax_cross_entropy_with_logits``
returns only the per-example loss; ``t.op.outputs`` has every output of a node. Errors raise
:class:`flowps.Error` (a ValueError) naming the node and the op.
"""

import contextlib
import os
import re

import numpy as np

from . import _flowps
from . import data
from . import init
from .job import Async, Job, Sync, cluster_status, optimizers, submit_file

__all__ = [
    "Error", "DType", "float32", "int32", "int64", "Graph", "Tensor", "Operation", "Metric", "Session",
    "get_default_graph", "device", "placeholder", "variable", "constant", "assign", "group", "gradients",
    "initialize_variables", "accuracy", "auc", "mean", "perplexity", "op_names", "builtin_model", "data", "init", "ops", "Job", "Sync", "Async", "optimizers", "submit_file", "cluster_status",
]

Error = _flowps.Error
DType = _flowps.DType
float32 = DType.float32
int32 = DType.int32
int64 = DType.int64
_NUMPY_DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64}

_registry = _flowps.OpRegistry()


class Operation:
    """A node of a graph: ``name``, ``type`` (its op), ``outputs``, ``device`` (as requested)."""

    def __init__(self, graph, name):
        self.graph = graph
        self.name = name

    @property
    def type(self):
        return self.graph._g.op(self.name)

    @property
    def device(self):
        return self.graph._g.device(self.name)

    @property
    def outputs(self):
        return [Tensor(self.graph, self.name, i) for i in range(self.graph._g.num_outputs(self.name))]

    def __repr__(self):
        return f"<flowps.Operation '{self.name}' type={self.type}>"


class Tensor:
    """Output ``index`` of node ``op``: ``name`` ("node:index"), ``dtype``, ``shape`` (None: unknown dim)."""

    def __init__(self, graph, node, index=0):
        self.graph = graph
        self.node = node
        self.index = index

    @property
    def op(self):
        return Operation(self.graph, self.node)

    @property
    def name(self):
        return f"{self.node}:{self.index}"

    @property
    def dtype(self):
        return getattr(DType, self.graph._g.output_info(self._ref())[0])

    @property
    def shape(self):
        return list(self.graph._g.output_info(self._ref())[1])

    def _ref(self):
        return (self.node, self.index)

    def __repr__(self):
        dtype, dims = self.graph._g.output_info(self._ref())
        return f"<flowps.Tensor '{self.name}' shape={list(dims)} dtype={dtype}>"

    def __hash__(self):
        return hash((id(self.graph), self.node, self.index))

    def __eq__(self, other):
        return isinstance(other, Tensor) and other.graph is self.graph and other._ref() == self._ref()

    def __add__(self, other): return _op("Add", [self, other])
    def __radd__(self, other): return _op("Add", [other, self])
    def __sub__(self, other): return _op("Sub", [self, other])
    def __rsub__(self, other): return _op("Sub", [other, self])
    def __mul__(self, other): return _op("Mul", [self, other])
    def __rmul__(self, other): return _op("Mul", [other, self])
    def __truediv__(self, other): return _op("Div", [self, other])
    def __rtruediv__(self, other): return _op("Div", [other, self])
    def __neg__(self): return _op("Neg", [self])
    def __matmul__(self, other): return _op("MatMul", [self, other])


class Graph:
    """A dataflow graph under construction. Build in ``with g.as_default():``."""

    def __init__(self, _native=None):
        self._g = _native if _native is not None else _flowps.Graph(_registry)
        self._devices = []

    @contextlib.contextmanager
    def as_default(self):
        _default_graphs.append(self)
        try:
            yield self
        finally:
            _default_graphs.pop()

    def get_operation_by_name(self, name):
        self._g.op(name)  # raises if absent
        return Operation(self, name)

    def get_tensor_by_name(self, name):
        node, _, index = name.partition(":")
        t = Tensor(self, node, int(index or 0))
        self._g.output_info(t._ref())  # raises if absent
        return t

    def operations(self):
        return [Operation(self, n) for n in self._g.node_names()]

    def variables(self):
        """The variable-reading tensors, in the order they were built."""
        return [Tensor(self, node) for node, _ in self._g.variables()]

    # ---- roles: what makes the graph a model a cluster can train ----
    def set_roles(self, inputs, loss, metrics=None, states=None):
        """``inputs``: {placeholder: data column}; ``loss``: a float32 scalar;
        ``metrics``: {name: fp.accuracy(...) / fp.auc(...) / fp.mean(...) / fp.perplexity(...)};
        ``states``: {initial placeholder (float32 [None, ...]): its value after the step}, the
        recurrent state a worker carries from step to step on contiguous data (truncated BPTT)."""
        metrics, states = metrics or {}, states or {}
        self._g.set_roles([(_in_graph(self, p, "an input").node, str(c)) for p, c in inputs.items()],
                          _in_graph(self, loss, "the loss")._ref() if loss is not None else None,
                          [(name, m.kind, [_in_graph(self, t, f"metric {name!r}")._ref() for t in m.tensors])
                           for name, m in metrics.items()],
                          [(_in_graph(self, p, "a state").node, _in_graph(self, f, "a state's final value")._ref())
                           for p, f in states.items()])

    def roles(self):
        """{"inputs": {placeholder: column}, "loss": Tensor or None, "metrics": {name: Metric},
        "states": {initial placeholder: final value}}."""
        r = self._g.roles()
        return {"inputs": {Tensor(self, n): c for n, c in r["inputs"]},
                "loss": Tensor(self, *r["loss"]) if r["loss"] else None,
                "metrics": {name: Metric(kind, [Tensor(self, *ref) for ref in refs]) for name, kind, refs in r["metrics"]},
                "states": {Tensor(self, n): Tensor(self, *ref) for n, ref in r["states"]}}

    def validate(self):
        """Raises flowps.Error, naming the node, unless the graph is a complete model:
        every variable initialized, inputs, a loss and well-formed metrics."""
        self._g.validate()

    def as_graph_def(self):
        """The GraphDef bytes: nodes, initializers, requested devices, roles."""
        return self._g.serialize()

    def save(self, path):
        """Writes the GraphDef to ``path``, making its folder (read it back with Graph.load)."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._g.save(str(path))

    @staticmethod
    def load(path_or_bytes):
        data = path_or_bytes
        if not isinstance(data, (bytes, bytearray)):
            with open(path_or_bytes, "rb") as f:
                data = f.read()
        return Graph(_flowps.Graph.load(_registry, bytes(data)))


_default_graphs = []
_global_graph = None


def get_default_graph():
    """The graph of the innermost ``with g.as_default():``, else a process-wide one."""
    global _global_graph
    if _default_graphs:
        return _default_graphs[-1]
    if _global_graph is None:
        _global_graph = Graph()
    return _global_graph


@contextlib.contextmanager
def device(name):
    """Nodes built inside request device ``name``, e.g. "/device:cpu:1",
    "/gpu:1" or "/job:worker/device:cpu:1" (the cluster completes a missing job
    or task). On a cluster such a model is model-parallel: each worker runs it
    as one replica over its own devices (README, "Model parallelism").
    A local Session runs every node on its own CPU."""
    g = get_default_graph()
    g._devices.append(name)
    try:
        yield
    finally:
        g._devices.pop()


def _in_graph(graph, t, what):
    if not isinstance(t, Tensor):
        raise TypeError(f"{what} must be a flowps.Tensor, got {type(t).__name__}")
    if t.graph is not graph:
        raise ValueError(f"{what} ({t.name}) belongs to another graph")
    return t


def _graph_of(inputs):
    for t in inputs:
        if isinstance(t, Tensor):
            return t.graph
        if isinstance(t, (list, tuple)):
            g = _graph_of(t)
            if g is not None:
                return g
    return None


def _as_tensor(graph, value, like=None):
    """A Tensor, or a Const made from a Python number / numpy array: of `like`'s
    integer dtype when both are integral, int32/int64 when integral without a
    `like`, else float32."""
    if isinstance(value, Tensor):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind not in "iufb":
        raise TypeError(f"cannot make a tensor of {value!r}")
    integral = arr.dtype.kind in "iub"
    if integral and like is not None and like.dtype in (int32, int64):
        arr = arr.astype(_NUMPY_DTYPES[like.dtype.name])
    elif integral and like is None:
        arr = arr.astype(np.int32 if arr.dtype == np.int32 else np.int64)
    else:
        arr = arr.astype(np.float32)
    return constant(arr, graph=graph)


def _op(type, inputs, attrs=None, name=None, control_inputs=()):
    """Adds one node of op ``type``: the generic op builder every op function uses.
    ``control_inputs``: Tensors or Operations that must run first."""
    flat = [list(i) if isinstance(i, (list, tuple)) else i for i in inputs]
    graph = _graph_of(flat) or get_default_graph()
    like = next((t for t in flat if isinstance(t, Tensor)), None)
    refs = []
    for item in flat:
        items = item if isinstance(item, list) else [item]
        for t in items:
            refs.append(_in_graph(graph, _as_tensor(graph, t, like), f"an input of {type}")._ref())
    control = [c.op.name if isinstance(c, Tensor) else c.name for c in control_inputs]
    node = graph._g.add_node(type, name or "", refs, dict(attrs or {}),
                             graph._devices[-1] if graph._devices else "", control)
    if graph._g.num_outputs(node) == 0:
        return Operation(graph, node)
    return Tensor(graph, node, 0)


def placeholder(dtype, shape, name=None):
    """A tensor that must be fed; None in ``shape`` accepts any size."""
    return _op("Placeholder", [], {"dtype": dtype, "shape": list(shape)}, name)


def variable(name, shape, init=None, dtype=float32):
    """Reads the variable ``name``; ``init`` (an fp.init initializer) gives its initial value."""
    attrs = {"var_name": name, "dtype": dtype, "shape": list(shape)}
    if init is not None:
        attrs.update(init.attrs())
    return _op("Variable", [], attrs, name)


def constant(value, dtype=None, name=None, graph=None):
    arr = np.asarray(value, dtype=_NUMPY_DTYPES[dtype.name] if dtype is not None else None)
    if dtype is None and arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    graph = graph or get_default_graph()
    with contextlib.ExitStack() as stack:
        if graph is not get_default_graph():
            stack.enter_context(graph.as_default())
        return _op("Const", [], {"value": np.ascontiguousarray(arr)}, name)


def assign(variable, value, name=None):
    """Stages ``value`` as the new value of the variable ``variable`` reads; it is
    committed when the whole Session.run succeeds. Returns ``value``."""
    names = dict(variable.graph._g.variables())
    if variable.node not in names:
        raise Error(f"assign: node '{variable.node}' (op {variable.op.type}) is not a Variable")
    return _op("Assign", [value], {"var_name": names[variable.node], "dtype": variable.dtype,
                                   "shape": variable.shape}, name)


def group(*inputs, name=None):
    """An Operation that runs after every one of ``inputs`` (e.g. a training step's assigns)."""
    graph = _graph_of(list(inputs)) or get_default_graph()
    with contextlib.ExitStack() as stack:
        if graph is not get_default_graph():
            stack.enter_context(graph.as_default())
        return _op("NoOp", [], {}, name, control_inputs=inputs)


def gradients(loss, xs):
    """d(sum of loss)/d(x) for each x in ``xs`` (None where loss does not depend on x)."""
    single = isinstance(xs, Tensor)
    xs = [xs] if single else list(xs)
    g = loss.graph
    grads = g._g.gradients(loss._ref(), [_in_graph(g, x, "an x of gradients")._ref() for x in xs])
    out = [Tensor(g, *r) if r is not None else None for r in grads]
    return out[0] if single else out


class _InitializeVariables:
    def __repr__(self):
        return "<flowps.initialize_variables>"


def initialize_variables():
    """A fetch for Session.run that gives every variable its initializer's value."""
    return _InitializeVariables()


class Metric:
    """A metric to report: ``kind`` ("accuracy", "auc", "mean", "perplexity") over ``tensors``.
    Fetch it with Session.run to compute it on one batch."""

    def __init__(self, kind, tensors):
        self.kind = kind
        self.tensors = list(tensors)

    def compute(self, values):
        if self.kind == "mean":
            return float(np.mean(values[0]))
        if self.kind == "perplexity":
            return float(np.exp(np.mean(values[0])))
        if self.kind == "accuracy":
            return float(np.mean(np.argmax(values[0], axis=1) == values[1]))
        if self.kind == "auc":
            return _auc(values[0], values[1])
        raise ValueError(f"unknown metric kind {self.kind!r}")


def _auc(scores, labels):
    """Area under the ROC curve (ties count one half), by ranks."""
    scores = np.asarray(scores, np.float64)
    pos = np.asarray(labels) != 0
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(logits, labels):
    """The fraction of rows of logits [N, C] whose arg-max is the label [N]."""
    return Metric("accuracy", [logits, labels])


def auc(scores, labels):
    """The area under the ROC curve of scores [N] against 0/1 labels [N]."""
    return Metric("auc", [scores, labels])


def mean(value):
    """The mean of a float32 scalar or [N] tensor, e.g. the loss."""
    return Metric("mean", [value])


def perplexity(loss):
    """exp of the mean of a float32 scalar or [N] loss in nats: a language
    model's perplexity (per token when ``loss`` is the per-token cross-entropy)."""
    return Metric("perplexity", [loss])


class Session:
    """Runs a graph in this process; holds the variables' values."""

    def __init__(self, graph=None, threads=0):
        self.graph = graph or get_default_graph()
        self._s = _flowps.Session(self.graph._g, int(threads))

    def run(self, fetches, feed_dict=None):
        """Returns numpy arrays shaped like ``fetches`` (a Tensor, Operation, Metric,
        fp.initialize_variables(), or a list/tuple/dict of them); ``feed_dict`` maps
        tensors (or their names) to values."""
        flat, rebuild = _flatten(fetches)
        tensors, metric_slots, targets, init = [], [], [], False
        for f in flat:
            if isinstance(f, _InitializeVariables):
                init = True
            elif isinstance(f, Operation):
                targets.append(_in_graph_op(self.graph, f).name)
            elif isinstance(f, Metric):
                metric_slots.append((len(tensors), len(f.tensors)))
                tensors.extend(_in_graph(self.graph, t, "a metric tensor") for t in f.tensors)
            else:
                tensors.append(_in_graph(self.graph, self._tensor(f), "a fetch"))
        if init:
            self._s.initialize_variables()
        values = []
        if tensors or targets:
            values = self._s.run([t._ref() for t in tensors], targets, self._feeds(feed_dict or {}))
            values = [v[()] if v.ndim == 0 else v for v in values]  # a scalar as np.float32, ...
        results, k, m = [], 0, 0
        for f in flat:
            if isinstance(f, (_InitializeVariables, Operation)):
                results.append(None)
            elif isinstance(f, Metric):
                start, count = metric_slots[m]
                results.append(f.compute(values[start:start + count]))
                m += 1
                k += count
            else:
                results.append(values[k])
                k += 1
        return rebuild(results)

    def load_variable(self, name, value):
        """Sets variable ``name`` (its var_name) to ``value``."""
        nodes = [node for node, var in self.graph._g.variables() if var == name]
        if not nodes:
            raise Error(f"the graph has no variable '{name}'")
        want = _NUMPY_DTYPES[Tensor(self.graph, nodes[0]).dtype.name]
        self._s.load_variable(name, np.ascontiguousarray(value, dtype=want))

    def load_variables(self, values):
        """Sets several variables: {name: value}."""
        for name, value in values.items():
            self.load_variable(name, value)

    def variable_value(self, name):
        return self._s.read_variable(name)

    def _tensor(self, f):
        if isinstance(f, str):
            return self.graph.get_tensor_by_name(f)
        if not isinstance(f, Tensor):
            raise TypeError(f"cannot fetch {f!r}: expected a flowps.Tensor, Operation or Metric")
        return f

    def _feeds(self, feed_dict):
        feeds = []
        for key, value in feed_dict.items():
            t = _in_graph(self.graph, self._tensor(key), "a feed key")
            want = _NUMPY_DTYPES.get(t.dtype.name)
            arr = np.asarray(value)
            if want is None:
                raise Error(f"feed for node '{t.node}' (op {t.op.type}): cannot feed a {t.dtype.name} tensor")
            if arr.dtype.kind not in "iufb" or (np.dtype(want).kind == "i" and arr.dtype.kind not in "iub"):
                raise Error(f"feed for node '{t.node}' (op {t.op.type}): it is {t.dtype.name}, "
                            f"the value is {arr.dtype}")
            feeds.append((t._ref(), np.ascontiguousarray(arr, dtype=want)))
        return feeds


def _in_graph_op(graph, op):
    if op.graph is not graph:
        raise ValueError(f"operation {op.name} belongs to another graph")
    return op


def _flatten(fetches):
    """The leaves of one level of list/tuple/dict, and a function rebuilding that shape."""
    if isinstance(fetches, dict):
        keys = list(fetches)
        return [fetches[k] for k in keys], lambda r: dict(zip(keys, r))
    if isinstance(fetches, (list, tuple)):
        kind = type(fetches)
        return list(fetches), lambda r: kind(r)
    return [fetches], lambda r: r[0]


def builtin_model(kind="mlp", hidden=(256,), seed=1):
    """A built-in model of the job spec ("softmax", "mlp", "cnn": 784 features,
    10 classes), built by the cluster's own code, as (graph, initial values by
    variable name). Its roles: x <- "features", y <- "label", the loss, "accuracy".
    Give a Session its values with ``sess.load_variables(values)``."""
    native, initial = _flowps.builtin_model(_registry, kind, [int(h) for h in hidden], int(seed))
    return Graph(native), dict(initial)


def op_names():
    """Every op of the registry, by its C++ name."""
    return list(_registry.op_names())


def _snake_case(name):
    """MatMul -> mat_mul, Conv2DBackpropInput -> conv2d_backprop_input."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "_", name)
    return s.lower()


class _Ops:
    """The generated op functions, by snake_case name (also at top level unless a
    hand-written function has the name)."""


ops = _Ops()


# Ops whose further outputs are internals (TensorFlow's functions return the first only).
_FIRST_OUTPUT_ONLY = {"SparseSoftmaxCrossEntropyWithLogits"}
# Ops whose output count is an attribute: always a list, even of one.
_LIST_OUTPUT = {"Split"}


def _make_op_function(op_type, info):
    variadic = info["num_inputs"] < 0

    def fn(*inputs, name=None, **attrs):
        if variadic:
            if len(inputs) != 1 or not isinstance(inputs[0], (list, tuple)):
                raise TypeError(f"{op_type} takes one list of tensors")
        elif len(inputs) != info["num_inputs"]:
            raise TypeError(f"{op_type} takes {info['num_inputs']} input tensors, got {len(inputs)}")
        out = _op(op_type, list(inputs), attrs, name)
        if isinstance(out, Tensor) and op_type not in _FIRST_OUTPUT_ONLY:
            outputs = out.op.outputs
            if len(outputs) > 1 or op_type in _LIST_OUTPUT:
                return outputs
        return out

    fn.__name__ = _snake_case(op_type)
    fn.__qualname__ = fn.__name__
    fn.__doc__ = (f"Adds a {op_type} node ({'a list of' if variadic else info['num_inputs']} input tensors; "
                  f"attributes by keyword). Returns its output, or the list of its outputs when it has several.")
    return fn


def _generate_op_functions():
    for op_type in _registry.op_names():
        fn = _make_op_function(op_type, _registry.op_info(op_type))
        setattr(ops, fn.__name__, fn)
        if fn.__name__ not in globals():
            globals()[fn.__name__] = fn
            __all__.append(fn.__name__)


_generate_op_functions()
matmul = ops.mat_mul
argmax = ops.arg_max
__all__ += ["matmul", "argmax"]


class EmbeddingTable:
    """A hash-keyed embedding table held by the ps shards: int64 keys (any
    value) map to rows of ``dim`` floats, each key on the shard its hash names.
    A row is made on a key's first lookup (after ``min_count`` lookups), starts
    at ``initializer`` (an fp.init initializer: zeros, constant, uniform,
    normal, truncated_normal; drawn per key), is trained by ``optimizer``
    (fp.optimizers: SGD, Adagrad, Adam, Ftrl; only the rows looked up) and
    goes after ``ttl_steps`` steps untouched or, beyond ``max_rows`` per shard,
    least recently used first (0: never). Give the tables to fp.Job(tables=...).
    Looked up with fp.embedding_lookup(table, ids_column, offsets)."""

    def __init__(self, name, dim, optimizer, initializer=None, min_count=1, ttl_steps=0, max_rows=0):
        self.name, self.dim, self.optimizer = str(name), int(dim), optimizer
        self.initializer = initializer or init.zeros()
        self.min_count, self.ttl_steps, self.max_rows = int(min_count), int(ttl_steps), int(max_rows)
        self._inputs = {}  # per graph: (rows, index) placeholders

    def spec(self):
        """The table's entry in the job spec's ``tables`` section."""
        attrs = self.initializer.attrs()
        initializer = {"type": attrs["init"]}
        for key in ("value", "min", "max", "mean", "stddev", "seed"):
            if "init_" + key in attrs:
                initializer[key] = attrs["init_" + key]
        return {"dim": self.dim, "initializer": initializer, "optimizer": self.optimizer.spec(),
                "min_count": self.min_count, "ttl_steps": self.ttl_steps, "max_rows": self.max_rows}

    def _placeholders(self, graph, ids_column):
        key = id(graph)
        if key not in self._inputs:
            rows = _op("Placeholder", [], {"dtype": float32, "shape": [None, self.dim], "table": self.name,
                                           "ids_column": ids_column, "dim": self.dim}, self.name + "/rows")
            index = _op("Placeholder", [], {"dtype": int32, "shape": [None], "table_index": self.name},
                        self.name + "/index")
            self._inputs[key] = (rows, index, ids_column)
        rows, index, column = self._inputs[key]
        if column != ids_column:
            raise Error(f"embedding table '{self.name}' is looked up from column '{column}' already, "
                        f"not '{ids_column}'")
        return rows, index


def embedding_lookup(params, ids, offsets=None, combiner="mean", name=None):
    """The rows of ``params`` picked by ``ids``; with a ragged batch's int64
    ``offsets`` [batch + 1] (a libsvm batch's, example i owning ids
    offsets[i]:offsets[i+1]), each example's rows combined ("sum" or "mean",
    an example without ids giving zeros) into [batch, d].

    ``params`` is a dense variable [V, d] with int ``ids`` a tensor, or an
    :class:`EmbeddingTable` with ``ids`` the name of the batch's int64 ids
    column (a libsvm file's "ids"): the worker then looks up the batch's
    distinct keys on the ps, feeds their rows, and pushes their gradients by
    key. Either way the gradient is sparse, never a dense [V, d]."""
    if isinstance(params, EmbeddingTable):
        graph = _graph_of([offsets]) if offsets is not None else None
        rows, index = params._placeholders(graph or get_default_graph(), str(ids))
        looked_up = ops.gather(rows, index)
    else:
        looked_up = ops.gather(params, ids)
    if offsets is None:
        return looked_up
    return ops.segment_combine(looked_up, offsets, combiner=combiner, name=name)


__all__ += ["embedding_lookup", "EmbeddingTable"]
