"""A Python-built MLP is the built-in MLP: same seeds and data, same values and loss."""
import numpy as np
import pytest

import flowps as fp

HIDDEN = [64, 32]
SEED = 7


def python_mlp():
    """The built-in MLP (worker/models.cc), written in Python: He-normal weights
    seeded seed + layer, zero biases, mean sparse softmax cross-entropy."""
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 784], name="x")
        y = fp.placeholder(fp.int32, [None], name="y")
        h, width = x, 784
        for i, units in enumerate(HIDDEN):
            W = fp.variable(f"hidden{i}/W", [width, units], init=fp.init.he_normal(seed=SEED + i))
            b = fp.variable(f"hidden{i}/b", [units], init=fp.init.zeros())
            h, width = fp.relu(fp.bias_add(fp.matmul(h, W), b)), units
        W = fp.variable("out/W", [width, 10], init=fp.init.he_normal(seed=SEED + len(HIDDEN)))
        b = fp.variable("out/b", [10], init=fp.init.zeros())
        logits = fp.bias_add(fp.matmul(h, W), b)
        loss = fp.reduce_mean(fp.sparse_softmax_cross_entropy_with_logits(logits, y))
    return g, x, y, logits, loss


@pytest.fixture
def batch(rng):
    return rng.random((32, 784), dtype=np.float32), rng.integers(0, 10, 32).astype(np.int32)


def test_python_mlp_equals_the_builtin_mlp(batch):
    xs, ys = batch
    g, x, y, logits, loss = python_mlp()
    sess = fp.Session(g)
    sess.run(fp.initialize_variables())

    builtin, initial = fp.builtin_model("mlp", hidden=HIDDEN, seed=SEED)
    bsess = fp.Session(builtin)
    bsess.load_variables(initial)
    roles = builtin.roles()
    bx, by = list(roles["inputs"])

    assert sorted(initial) == sorted(name for _, name in g._g.variables())
    for name, value in initial.items():
        np.testing.assert_array_equal(sess.variable_value(name), value, err_msg=name)
    ours = sess.run(loss, {x: xs, y: ys})
    theirs = bsess.run(roles["loss"], {bx: xs, by: ys})
    assert ours == pytest.approx(theirs, rel=1e-6)
    assert sess.run(fp.accuracy(logits, y), {x: xs, y: ys}) == \
        pytest.approx(bsess.run(roles["metrics"]["accuracy"], {bx: xs, by: ys}))


def test_python_mlp_equals_a_numpy_forward_pass(batch):
    xs, ys = batch
    g, x, y, logits, loss = python_mlp()
    sess = fp.Session(g)
    sess.run(fp.initialize_variables())
    h = xs.astype(np.float64)
    for i in range(len(HIDDEN)):
        h = np.maximum(h @ sess.variable_value(f"hidden{i}/W") + sess.variable_value(f"hidden{i}/b"), 0)
    z = h @ sess.variable_value("out/W") + sess.variable_value("out/b")
    z -= z.max(1, keepdims=True)
    want = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(ys)), ys])
    assert sess.run(loss, {x: xs, y: ys}) == pytest.approx(want, rel=1e-5)
    # He-normal: the weights' spread is sqrt(2 / fan_in).
    assert np.std(sess.variable_value("hidden0/W")) == pytest.approx(np.sqrt(2 / 784), rel=0.05)


def test_training_steps_lower_the_loss(batch):
    xs, ys = batch
    g, x, y, logits, loss = python_mlp()
    variables = g.variables()
    with g.as_default():
        grads = fp.gradients(loss, variables)
    sess = fp.Session(g)
    sess.run(fp.initialize_variables())
    first = sess.run(loss, {x: xs, y: ys})
    for _ in range(20):
        values = sess.run(grads, {x: xs, y: ys})
        for v, dv in zip(variables, values):
            name = v.node
            sess.load_variable(name, sess.variable_value(name) - 0.1 * dv)
    assert sess.run(loss, {x: xs, y: ys}) < 0.6 * first
