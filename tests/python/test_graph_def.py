"""A saved graph is a complete model: initializers, devices and roles come back."""
import numpy as np
import pytest

import flowps as fp


def test_save_and_load_keep_initializers_devices_and_roles(tmp_path, rng):
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 4], name="x")
        y = fp.placeholder(fp.int32, [None], name="y")
        with fp.device("/job:worker/device:cpu:1"):
            W = fp.variable("W", [4, 3], init=fp.init.truncated_normal(stddev=0.1, seed=9))
        logits = fp.matmul(x, W)
        loss = fp.reduce_mean(fp.sparse_softmax_cross_entropy_with_logits(logits, y), name="loss")
    g.set_roles({x: "images", y: "labels"}, loss, {"accuracy": fp.accuracy(logits, y)})
    g.validate()
    path = tmp_path / "model.graph"
    g.save(path)
    assert path.read_bytes() == g.as_graph_def()

    h = fp.Graph.load(path)
    h.validate()
    assert h.get_operation_by_name("W").device == "/job:worker/device:cpu:1"
    roles = h.roles()
    assert {t.node: c for t, c in roles["inputs"].items()} == {"x": "images", "y": "labels"}
    assert roles["loss"].node == "loss"
    assert roles["metrics"]["accuracy"].kind == "accuracy"

    feeds = (rng.standard_normal((5, 4)).astype(np.float32), rng.integers(0, 3, 5).astype(np.int32))
    a, b = fp.Session(g), fp.Session(h)
    a.run(fp.initialize_variables())
    b.run(fp.initialize_variables())
    np.testing.assert_array_equal(a.variable_value("W"), b.variable_value("W"))
    assert np.all(np.abs(b.variable_value("W")) <= 0.2 + 1e-6)
    hx, hy = h.get_tensor_by_name("x:0"), h.get_tensor_by_name("y:0")
    assert a.run(loss, dict(zip([x, y], feeds))) == pytest.approx(b.run(roles["loss"], dict(zip([hx, hy], feeds))))


def test_state_roles_are_saved_with_the_graph_and_a_contiguous_text_job_writes_its_key(tmp_path):
    g = fp.Graph()
    with g.as_default():
        tokens = fp.placeholder(fp.float32, [None, 4], name="tokens")
        y = fp.placeholder(fp.int32, [None], name="y")
        h0 = fp.placeholder(fp.float32, [None, 4], name="h0")
        W = fp.variable("W", [4, 3], init=fp.init.truncated_normal(stddev=0.1, seed=9))
        h = fp.tanh(tokens + h0)
        loss = fp.reduce_mean(fp.sparse_softmax_cross_entropy_with_logits(fp.matmul(h, W), y), name="loss")
    g.set_roles({tokens: "tokens", y: "targets"}, loss, states={h0: h})
    g.validate()
    path = tmp_path / "model.graph"
    g.save(path)
    states = fp.Graph.load(path).roles()["states"]
    assert {p.node: f.node for p, f in states.items()} == {"h0": h.node}
    g.set_roles({tokens: "tokens", y: "targets"}, loss, states={h0: loss})  # a scalar is not a [None, 4] state
    with pytest.raises(fp.Error, match="node 'h0' \\(op Placeholder\\): state: the final value"):
        g.validate()

    data = fp.data.text(str(tmp_path), feeds={tokens: "tokens", y: "targets"}, sequence_length=4, contiguous=True)
    assert data.spec()["contiguous"] is True and data.spec()["shuffle"] is False
