"""Graph jobs on a real local cluster (flowps-ps and flowps-worker processes):
a Python-built model trains there exactly like the built-in one, the examples
train, and a refused job or a closed cluster raises."""
import os
import sys

import numpy as np
import pytest

import flowps as fp
from local_cluster import LocalCluster, _free_port
from test_mlp import HIDDEN, SEED, python_mlp

FASHION = "/usr/share/datasets/fashion-mnist"
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
sys.path.insert(0, EXAMPLES)

needs_data = pytest.mark.skipif(not os.path.isdir(FASHION), reason=f"no Fashion-MNIST at {FASHION}")
QUIET = open(os.devnull, "w")


@pytest.fixture(scope="module")
def one_worker():
    with LocalCluster(ps=1, workers=1) as cluster:
        yield cluster


def builtin_job_file(path, steps):
    """The built-in MLP of test_mlp (same hidden widths and seed) as a job file."""
    path.write_text(f"""name: builtin-mlp
model:
  type: mlp
  hidden: {HIDDEN}
  seed: {SEED}
data:
  path: {FASHION}
  batch_size: 32
  shuffle: false
optimizer:
  type: sgd
  learning_rate: 0.1
mode:
  type: sync
  total_workers: 1
train:
  steps: {steps}
""")
    return str(path)


@needs_data
def test_a_python_mlp_trains_on_the_cluster_exactly_like_the_builtin_mlp(one_worker, tmp_path):
    steps = 30
    builtin = fp.submit_file(builtin_job_file(tmp_path / "builtin.yaml", steps), one_worker.spec, poll_s=0.2,
                             out=QUIET)
    g, x, y, logits, loss = python_mlp()
    job = fp.Job("python-mlp", g, loss=loss, metrics={"accuracy": fp.accuracy(logits, y)},
                 data=fp.data.idx(FASHION, feeds={x: "features", y: "label"}, batch_size=32, shuffle=False),
                 optimizer=fp.optimizers.SGD(0.1), mode=fp.Sync(total_workers=1), steps=steps)
    ours = job.submit(cluster=one_worker.spec, wait=True, poll_s=0.2, path=str(tmp_path / "py" / "job.yaml"),
                      out=QUIET)
    assert ours["global_step"] == builtin["global_step"] == steps
    assert ours["loss"] == pytest.approx(builtin["loss"], rel=1e-5)
    assert ours["accuracy"] == pytest.approx(builtin["accuracy"], abs=1e-4)
    assert ours["loss"] < 1.5  # it did train (a fresh model's loss is about ln 10 = 2.3)


@needs_data
def test_a_graph_job_reports_every_metric_of_its_roles_and_the_residual_example_trains(tmp_path):
    import fashion_residual
    g, x, y, logits, loss = fashion_residual.build_model()
    test_x, test_y = fp.data.image_classes(FASHION, "t10k")
    sess = fp.Session(g)
    sess.run(fp.initialize_variables())
    before = sess.run(loss, {x: test_x[:2000], y: test_y[:2000]})
    with LocalCluster(ps=1, workers=1) as cluster:  # its own: a ps shard keeps its first job's optimizer
        result = fashion_residual.main(["--cluster", cluster.spec, "--steps", "150", "--out", str(tmp_path)])
    assert set(result) >= {"accuracy", "mean_loss", "loss"}
    assert result["mean_loss"] == pytest.approx(result["loss"], rel=1e-6)
    assert result["loss"] < 0.6 * before
    assert os.path.exists(tmp_path / "job.graph")


def test_the_cnn_example_builds_a_model_whose_loss_falls_when_trained():
    import fashion_cnn
    g, x, y, logits, loss = fashion_cnn.build_model()
    variables = g.variables()
    with g.as_default():
        grads = fp.gradients(loss, variables)
        step = fp.group(*[fp.assign(v, v - 0.05 * dv) for v, dv in zip(variables, grads)])
    rng = np.random.default_rng(0)
    xs = rng.random((16, 784), dtype=np.float32)
    ys = (np.arange(16) % 10).astype(np.int32)
    sess = fp.Session(g)
    sess.run(fp.initialize_variables())
    first = sess.run(loss, {x: xs, y: ys})
    for _ in range(10):
        sess.run(step, {x: xs, y: ys})
    assert sess.run(loss, {x: xs, y: ys}) < 0.8 * first


@needs_data
def test_the_mlp_example_reaches_85_percent_on_a_cluster_of_two_workers(tmp_path):
    import fashion_mlp
    with LocalCluster(ps=2, workers=2) as cluster:
        result = fashion_mlp.main(["--cluster", cluster.spec, "--out", str(tmp_path)])
    assert result["accuracy"] >= 0.85


def test_a_closed_cluster_raises(tmp_path):
    (tmp_path / "token").write_text("t\n")
    spec = tmp_path / "cluster.yaml"
    spec.write_text(f"token_file: token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:{_free_port()}\n"
                    f"  worker:\n    chief: 0\n    tasks:\n      - address: 127.0.0.1:{_free_port()}\n")
    g, x, y, logits, loss = python_mlp()
    job = fp.Job("mlp", g, loss=loss, data=fp.data.idx(str(tmp_path), feeds={x: "features", y: "label"}),
                 optimizer=fp.optimizers.SGD(0.1), mode=fp.Sync(total_workers=1), steps=5)
    with pytest.raises(fp.Error, match="refused the job"):
        job.submit(cluster=str(spec), wait=True, path=str(tmp_path / "job.yaml"), timeout_ms=500, out=QUIET)


@needs_data
def test_a_job_the_chief_refuses_raises_with_its_reason(one_worker, tmp_path):
    g, x, y, logits, loss = python_mlp()
    job = fp.Job("mlp", g, loss=loss, data=fp.data.idx(FASHION, feeds={x: "features", y: "label"}),
                 optimizer=fp.optimizers.SGD(0.1), mode=fp.Sync(total_workers=3), steps=5)
    with pytest.raises(fp.Error, match="total_workers"):
        job.submit(cluster=one_worker.spec, wait=True, path=str(tmp_path / "job.yaml"), out=QUIET)


def test_split_returns_every_part():
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 6], name="x")
        parts = fp.split(x, num_split=3, axis=1)
        one = fp.split(x, num_split=1, axis=1)
    assert isinstance(parts, list) and len(parts) == 3
    assert isinstance(one, list) and len(one) == 1
    xs = np.arange(12, dtype=np.float32).reshape(2, 6)
    values = fp.Session(g).run(parts, {x: xs})
    for i, v in enumerate(values):
        np.testing.assert_array_equal(v, xs[:, 2 * i:2 * i + 2])


@needs_data
def test_a_job_saved_from_python_runs_with_flowps_train_and_flowps_submit(one_worker, tmp_path):
    import subprocess
    from local_cluster import BIN_DIR
    g, x, y, logits, loss = python_mlp()
    job = fp.Job("saved-mlp", g, loss=loss, metrics={"accuracy": fp.accuracy(logits, y)},
                 data=fp.data.idx(FASHION, feeds={x: "features", y: "label"}, batch_size=32, shuffle=False),
                 optimizer=fp.optimizers.SGD(0.1), mode=fp.Sync(total_workers=1), steps=10)
    job.save(str(tmp_path / "job.yaml"))
    flowps = os.path.join(BIN_DIR, "flowps")
    train = subprocess.run([flowps, "train", str(tmp_path / "job.yaml")], capture_output=True, text=True)
    assert train.returncode == 0, train.stderr
    assert "final test accuracy" in train.stdout + train.stderr
    submit = subprocess.run([flowps, "submit", str(tmp_path / "job.yaml"), "--cluster", one_worker.spec, "--wait",
                             "--poll-s", "0.2"], capture_output=True, text=True)
    assert submit.returncode == 0, submit.stderr
    assert "done: final test accuracy" in submit.stdout


def test_flowps_submit_refuses_a_graph_that_is_no_complete_model_naming_the_node(tmp_path):
    import subprocess
    from local_cluster import BIN_DIR
    g, x, y, logits, loss = python_mlp()
    job = fp.Job("mlp", g, loss=loss, data=fp.data.idx(str(tmp_path), feeds={x: "features", y: "label"}),
                 optimizer=fp.optimizers.SGD(0.1), mode=fp.Sync(total_workers=1), steps=5)
    job.save(str(tmp_path / "job.yaml"))
    bad = fp.Graph()
    with bad.as_default():
        bx = fp.placeholder(fp.float32, [None, 784], name="x")
        fp.reduce_mean(fp.matmul(bx, fp.variable("W", [784, 10])), name="loss")  # W: no initializer
    bad._g.set_roles([("x", "features")], ("loss", 0), [])
    bad.save(str(tmp_path / "job.graph"))
    (tmp_path / "token").write_text("t\n")
    (tmp_path / "cluster.yaml").write_text(
        f"token_file: token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:{_free_port()}\n"
        f"  worker:\n    chief: 0\n    tasks:\n      - address: 127.0.0.1:{_free_port()}\n")
    submit = subprocess.run([os.path.join(BIN_DIR, "flowps"), "submit", str(tmp_path / "job.yaml"), "--cluster",
                             str(tmp_path / "cluster.yaml")], capture_output=True, text=True)
    assert submit.returncode == 2
    assert "node 'W' (op Variable)" in submit.stderr and "no initializer" in submit.stderr
