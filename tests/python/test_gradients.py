"""fp.gradients gives numpy's analytic gradients."""
import numpy as np
import pytest

import flowps as fp


def test_gradient_of_a_linear_sum_is_the_input_column_sums(rng):
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 3], name="x")
        W = fp.variable("W", [3, 2], init=fp.init.random_normal(seed=4))
        b = fp.variable("b", [2], init=fp.init.zeros())
        loss = fp.reduce_sum(fp.bias_add(fp.matmul(x, W), b))
        gW, gb = fp.gradients(loss, [W, b])
    xv = rng.standard_normal((5, 3)).astype(np.float32)
    s = fp.Session(g)
    s.run(fp.initialize_variables())
    dW, db = s.run([gW, gb], {x: xv})
    np.testing.assert_allclose(dW, np.repeat(xv.sum(0)[:, None], 2, axis=1), rtol=1e-5)
    np.testing.assert_allclose(db, [5, 5])


def test_mlp_gradients_match_numpy_backprop(rng):
    n, d, h, c = 8, 6, 5, 4
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, d])
        y = fp.placeholder(fp.int32, [None])
        W1 = fp.variable("W1", [d, h], init=fp.init.glorot_normal(seed=1))
        W2 = fp.variable("W2", [h, c], init=fp.init.he_uniform(seed=2))
        hidden = fp.tanh(fp.matmul(x, W1))
        loss = fp.reduce_mean(fp.sparse_softmax_cross_entropy_with_logits(fp.matmul(hidden, W2), y))
        grads = fp.gradients(loss, [W1, W2, x])
    xv = rng.standard_normal((n, d)).astype(np.float32)
    yv = rng.integers(0, c, n).astype(np.int32)
    s = fp.Session(g)
    s.run(fp.initialize_variables())
    w1, w2 = s.variable_value("W1").astype(np.float64), s.variable_value("W2").astype(np.float64)
    # numpy forward and backward pass.
    hv = np.tanh(xv @ w1)
    z = hv @ w2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = p.copy()
    dz[np.arange(n), yv] -= 1
    dz /= n
    dw2 = hv.T @ dz
    dh = dz @ w2.T * (1 - hv ** 2)
    dw1, dx = xv.T @ dh, dh @ w1.T
    got = s.run(grads, {x: xv, y: yv})
    for want, have in zip([dw1, dw2, dx], got):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-6)


def test_an_unconnected_variable_gets_no_gradient():
    g = fp.Graph()
    with g.as_default():
        a = fp.variable("a", [2], init=fp.init.constant(1.0))
        b = fp.variable("b", [2], init=fp.init.constant(2.0))
        loss = fp.reduce_sum(a * a)
        ga, gb = fp.gradients(loss, [a, b])
    assert gb is None
    s = fp.Session(g)
    s.run(fp.initialize_variables())
    np.testing.assert_array_equal(s.run(ga), [2, 2])


def test_an_in_graph_sgd_step_commits_only_when_the_step_succeeds():
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 2], name="x")
        w = fp.variable("w", [2], init=fp.init.constant(1.0))
        loss = fp.reduce_sum(fp.square(x * w))
        (dw,) = fp.gradients(loss, [w])
        train = fp.group(fp.assign(w, w - 0.1 * dw), name="train")
    s = fp.Session(g)
    s.run(fp.initialize_variables())
    s.run(train, {x: np.array([[1.0, 2.0]])})
    # d/dw sum((x w)^2) = 2 x^2 w = [2, 8]
    np.testing.assert_allclose(s.variable_value("w"), [0.8, 0.2], rtol=1e-6)
    with pytest.raises(fp.Error):
        s.run(train, {x: np.array([[1.0, 2.0, 3.0]])})
    np.testing.assert_allclose(s.variable_value("w"), [0.8, 0.2], rtol=1e-6)
    with pytest.raises(fp.Error, match="not a Variable"):
        fp.assign(loss, loss)


def test_embedding_lookup_combines_each_examples_rows_and_its_gradient_counts_each_lookup():
    g = fp.Graph()
    with g.as_default():
        ids = fp.placeholder(fp.int64, [None], name="ids")
        offsets = fp.placeholder(fp.int64, [None], name="offsets")
        E = fp.variable("E", [6, 2], init=fp.init.random_normal(seed=3))
        pooled = fp.embedding_lookup(E, ids, offsets, combiner="mean")
        summed = fp.embedding_lookup(E, ids, offsets, combiner="sum")
        (gE,) = fp.gradients(fp.reduce_sum(pooled), [E])
    s = fp.Session(g)
    s.run(fp.initialize_variables())
    e = s.variable_value("E")
    feed = {ids: np.array([5, 0, 5, 3], np.int64), offsets: np.array([0, 3, 3, 4], np.int64)}
    p, q, d = s.run([pooled, summed, gE], feed)
    np.testing.assert_allclose(p, [(e[5] + e[0] + e[5]) / 3, [0, 0], e[3]], rtol=1e-6)
    np.testing.assert_allclose(q, [e[5] + e[0] + e[5], [0, 0], e[3]], rtol=1e-6)
    expected = np.zeros((6, 2), np.float32)
    expected[5] = 2 / 3
    expected[0] = 1 / 3
    expected[3] = 1
    np.testing.assert_allclose(d, expected, rtol=1e-6)
