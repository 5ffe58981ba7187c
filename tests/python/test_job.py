"""A job saved from Python is a job spec flowps's own loader accepts, plus a complete graph."""
import pytest

import flowps as fp


def mlp():
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 784], name="x")
        y = fp.placeholder(fp.int32, [None], name="y")
        with fp.device("/device:cpu:1"):
            h = fp.relu(fp.matmul(x, fp.variable("W1", [784, 32], init=fp.init.he_normal(seed=1))))
        logits = fp.matmul(h, fp.variable("W2", [32, 10], init=fp.init.glorot_uniform(seed=2)))
        loss = fp.reduce_mean(fp.sparse_softmax_cross_entropy_with_logits(logits, y))
    return g, x, y, logits, loss


def test_a_saved_job_is_a_job_spec_and_a_complete_graph(tmp_path):
    g, x, y, logits, loss = mlp()
    job = fp.Job("mlp", g, loss=loss, metrics={"accuracy": fp.accuracy(logits, y)},
                 data=fp.data.idx("/usr/share/datasets/fashion-mnist", feeds={x: "features", y: "label"}),
                 optimizer=fp.optimizers.Adam(0.001), mode=fp.Sync(total_workers=2), epochs=3)
    graph_path = job.save(str(tmp_path / "run" / "job.yaml"))
    assert graph_path == str(tmp_path / "run" / "job.graph")
    text = (tmp_path / "run" / "job.yaml").read_text()
    assert 'graph_file: "job.graph"' in text and 'type: "adam"' in text and "total_workers: 2" in text
    loaded = fp.Graph.load(graph_path)
    loaded.validate()
    assert loaded.get_operation_by_name("W1").device == "/device:cpu:1"
    assert {t.node: c for t, c in loaded.roles()["inputs"].items()} == {"x": "features", "y": "label"}


def test_a_job_whose_graph_lacks_an_initializer_is_refused(tmp_path):
    g, x, y, logits, loss = mlp()
    with g.as_default():
        fp.variable("b", [10])
    job = fp.Job("mlp", g, loss=loss, data=fp.data.idx(".", feeds={x: "features", y: "label"}),
                 optimizer=fp.optimizers.SGD(0.1), mode=fp.Async(total_workers=1), steps=10)
    with pytest.raises(fp.Error, match=r"node 'b' \(op Variable\).*no initializer"):
        job.save(str(tmp_path / "job.yaml"))
    assert not (tmp_path / "job.yaml").exists()


def test_a_job_spec_the_loader_refuses_raises_naming_the_key(tmp_path):
    g, x, y, logits, loss = mlp()
    job = fp.Job("mlp", g, loss=loss, data=fp.data.idx(str(tmp_path / "missing"), feeds={x: "features", y: "label"}),
                 optimizer=fp.optimizers.SGD(0.1), mode=fp.Sync(total_workers=1), steps=10)
    with pytest.raises(fp.Error, match="data.path"):
        job.save(str(tmp_path / "job.yaml"))
    with pytest.raises(ValueError, match="exactly one of epochs and steps"):
        fp.Job("mlp", g, loss=loss, data=None, optimizer=None, mode=None)


def test_a_job_with_soft_placement_says_so_in_its_model_section(tmp_path):
    g, x, y, logits, loss = mlp()
    job = fp.Job("mlp", g, loss=loss, data=fp.data.idx("/usr/share/datasets/fashion-mnist", feeds={x: "features", y: "label"}),
                 optimizer=fp.optimizers.SGD(0.1), mode=fp.Sync(total_workers=1), steps=10, soft_placement=True)
    job.save(str(tmp_path / "job.yaml"))
    assert "soft_placement: true" in (tmp_path / "job.yaml").read_text()
