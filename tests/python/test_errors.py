"""Bad graphs, feeds and models raise flowps.Error naming the node and op; nothing crashes."""
import numpy as np
import pytest

import flowps as fp


def test_a_bad_shape_names_the_node_and_op():
    g = fp.Graph()
    with g.as_default():
        a = fp.placeholder(fp.float32, [None, 4], name="a")
        b = fp.placeholder(fp.float32, [3, 2], name="b")
        with pytest.raises(fp.Error, match=r"node 'layer' \(op MatMul\)"):
            fp.matmul(a, b, name="layer")


def test_a_bad_dtype_names_the_node_and_op():
    g = fp.Graph()
    with g.as_default():
        a = fp.placeholder(fp.float32, [2], name="a")
        i = fp.placeholder(fp.int32, [2], name="i")
        with pytest.raises(fp.Error, match=r"\(op Add\)"):
            a + i
        with pytest.raises(fp.Error, match=r"node 'v' \(op Variable\).*float32"):
            fp.variable("v", [2], init=fp.init.he_normal(seed=1), dtype=fp.int32)
        with pytest.raises(fp.Error, match="min <= max"):
            fp.variable("u", [2], init=fp.init.random_uniform(1.0, -1.0))
        with pytest.raises(fp.Error, match=r"\(op NoSuchOp\): unknown op"):
            fp._op("NoSuchOp", [])
        with pytest.raises(fp.Error, match=r"attribute 'shape'"):
            fp.placeholder(fp.float32, ["x"])


def test_wrong_feeds_raise():
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 3], name="x")
        y = fp.placeholder(fp.int32, [None], name="y")
        out = fp.reduce_sum(x)
        yy = fp.cast(y, dtype=fp.float32)
    s = fp.Session(g)
    with pytest.raises(fp.Error, match="x"):
        s.run(out, {x: np.ones((2, 4), np.float32)})
    with pytest.raises(fp.Error, match=r"node 'y' \(op Placeholder\).*int32"):
        s.run(yy, {y: np.array([0.5, 1.5])})
    with pytest.raises(fp.Error, match="x"):
        s.run(out)  # not fed
    with pytest.raises(fp.Error, match=r"node 'x' \(op Placeholder\).*<U1"):
        s.run(out, {x: np.array([["a", "b", "c"]])})
    with pytest.raises(fp.Error, match="no node 'nope'"):
        s.run("nope:0")
    assert s.run(out, {x: np.ones((2, 3))}) == 6  # float64 is converted


def test_reading_an_uninitialized_variable_names_it():
    g = fp.Graph()
    with g.as_default():
        w = fp.variable("w", [2], init=fp.init.zeros())
        n = fp.variable("n", [2])
    s = fp.Session(g)
    with pytest.raises(fp.Error, match="w"):
        s.run(w)
    with pytest.raises(fp.Error, match=r"node 'n' \(op Variable\).*no initializer"):
        s.run(fp.initialize_variables())
    s.load_variable("n", [1.0, 2.0])
    with pytest.raises(fp.Error, match=r"variable .n.: expected float32\[2\], got float32\[3\]"):
        s.load_variable("n", [1.0, 2.0, 3.0])


def model_graph():
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 4], name="x")
        y = fp.placeholder(fp.int32, [None], name="y")
        logits = fp.matmul(x, fp.variable("W", [4, 3], init=fp.init.glorot_uniform(seed=1)))
        loss = fp.reduce_mean(fp.sparse_softmax_cross_entropy_with_logits(logits, y), name="loss")
    return g, x, y, logits, loss


def test_a_graph_lacking_a_role_is_refused_naming_what_is_missing():
    g, x, y, logits, loss = model_graph()
    with pytest.raises(fp.Error, match="no inputs"):
        g.validate()
    g.set_roles({x: "images", y: "labels"}, None)
    with pytest.raises(fp.Error, match="no loss"):
        g.validate()
    g.set_roles({x: "images", y: "labels"}, logits)
    with pytest.raises(fp.Error, match=r"node 'MatMul' \(op MatMul\).*float32 scalar"):
        g.validate()
    g.set_roles({x: "images", logits: "labels"}, loss)
    with pytest.raises(fp.Error, match=r"node 'MatMul' \(op MatMul\) is named as an input but is not a Placeholder"):
        g.validate()
    g.set_roles({x: "images", y: "labels"}, loss, {"acc": fp.accuracy(logits, logits)})
    with pytest.raises(fp.Error, match="metric 'acc'.*labels"):
        g.validate()
    g.set_roles({x: "images", y: "labels"}, loss, {"acc": fp.accuracy(logits, y), "loss": fp.mean(loss)})
    g.validate()
    with g.as_default():
        fp.variable("extra", [2])
    with pytest.raises(fp.Error, match=r"node 'extra' \(op Variable\).*no initializer"):
        g.validate()


def test_corrupt_graph_bytes_raise():
    with pytest.raises(fp.Error, match="whole number of 8-byte words"):
        fp.Graph.load(b"abc")
    with pytest.raises(fp.Error):
        fp.Graph.load(b"\xff" * 64)


def test_out_of_range_attributes_raise_instead_of_crashing():
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 3], name="x")
        with pytest.raises(fp.Error, match="does not fit in int64"):
            fp.placeholder(fp.float32, [2 ** 70])
        with pytest.raises(fp.Error, match=r"node 'huge' \(op Variable\).*2\^40 elements"):
            fp.variable("huge", [1 << 40, 1 << 40], init=fp.init.zeros())
        assert fp.argmax(x, axis=np.int64(1)).shape == [None]  # numpy integers are ints
