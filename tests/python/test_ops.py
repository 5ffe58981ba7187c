"""Every op function computes what numpy computes."""
import numpy as np
import pytest

import flowps as fp


def run(build, feeds):
    """Builds `build(*placeholders)` over float32 placeholders shaped like `feeds`, runs it."""
    g = fp.Graph()
    with g.as_default():
        xs = [fp.placeholder(fp.float32 if a.dtype == np.float32 else fp.int32, [None] * a.ndim) for a in feeds]
        out = build(*xs)
    return fp.Session(g).run(out, dict(zip(xs, feeds)))


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("fn, ref", [
    (lambda a, b: a + b, np.add), (lambda a, b: a - b, np.subtract),
    (lambda a, b: a * b, np.multiply), (lambda a, b: a / b, np.divide),
    (fp.add, np.add), (fp.sub, np.subtract), (fp.mul, np.multiply), (fp.div, np.divide),
])
def test_binary_ops_broadcast_like_numpy(rng, fn, ref):
    a, b = f32(rng, 3, 4), f32(rng, 4) + 3
    np.testing.assert_allclose(run(fn, [a, b]), ref(a, b), rtol=1e-6)


@pytest.mark.parametrize("fn, ref", [
    (fp.relu, lambda x: np.maximum(x, 0)), (fp.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    (fp.tanh, np.tanh), (fp.exp, np.exp), (fp.square, np.square), (fp.neg, np.negative),
    (lambda x: fp.log(fp.exp(x)), lambda x: x), (lambda x: fp.sqrt(fp.square(x)), np.abs),
    (lambda x: -x, np.negative), (lambda x: 2.0 * x - 1.0, lambda x: 2 * x - 1),
])
def test_unary_ops_match_numpy(rng, fn, ref):
    x = f32(rng, 5, 3)
    np.testing.assert_allclose(run(fn, [x]), ref(x), rtol=1e-5, atol=1e-6)


def test_matmul_with_transposes(rng):
    a, b = f32(rng, 3, 4), f32(rng, 5, 4)
    np.testing.assert_allclose(run(lambda a, b: fp.matmul(a, b, transpose_b=True), [a, b]), a @ b.T, rtol=1e-5)
    np.testing.assert_allclose(run(lambda a, b: fp.matmul(a, b, transpose_a=True), [a, a]), a.T @ a, rtol=1e-5)


def test_reductions_over_axes(rng):
    x = f32(rng, 2, 3, 4)
    np.testing.assert_allclose(run(lambda x: fp.reduce_sum(x, axes=[1]), [x]), x.sum(1), rtol=1e-5)
    np.testing.assert_allclose(run(lambda x: fp.reduce_mean(x, axes=[-1], keep_dims=True), [x]),
                               x.mean(-1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(run(lambda x: fp.reduce_max(x, axes=[0, 2]), [x]), x.max((0, 2)))
    np.testing.assert_allclose(run(fp.reduce_sum, [x]), x.sum(), rtol=1e-5)
    np.testing.assert_array_equal(run(lambda x: fp.argmax(x, axis=2), [x]), x.argmax(2))


def test_shapes_reshape_transpose_concat_slice(rng):
    x = f32(rng, 2, 3, 4)
    np.testing.assert_array_equal(run(lambda x: fp.reshape(x, shape=[-1, 4]), [x]), x.reshape(-1, 4))
    np.testing.assert_array_equal(run(lambda x: fp.transpose(x, perm=[2, 0, 1]), [x]), x.transpose(2, 0, 1))
    np.testing.assert_array_equal(run(lambda x: fp.concat([x, x], axis=1), [x]), np.concatenate([x, x], 1))
    np.testing.assert_array_equal(run(lambda x: fp.slice(x, begin=[0, 1, 0], size=[-1, 2, 3]), [x]),
                                  x[:, 1:3, 0:3])
    np.testing.assert_array_equal(run(lambda x: fp.cast(x, dtype=fp.int32), [x]), x.astype(np.int32))


def test_softmax_and_cross_entropy(rng):
    logits, labels = f32(rng, 6, 5), rng.integers(0, 5, 6).astype(np.int32)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(run(fp.softmax, [logits]), p, rtol=1e-5)
    xent = run(fp.sparse_softmax_cross_entropy_with_logits, [logits, labels])
    np.testing.assert_allclose(xent, -np.log(p[np.arange(6), labels]), rtol=1e-5)


def test_gather_and_constants(rng):
    params, idx = f32(rng, 7, 3), np.array([4, 0, 4], np.int32)
    np.testing.assert_array_equal(run(fp.gather, [params, idx]), params[idx])
    g = fp.Graph()
    with g.as_default():
        c = fp.constant([[1, 2], [3, 4]], dtype=fp.float32)
        t = c * 2 + 1
    np.testing.assert_array_equal(fp.Session(g).run(t), [[3, 5], [7, 9]])
    assert t.dtype == fp.float32 and t.shape == [2, 2]


def test_every_registered_op_has_a_function():
    for op in fp.op_names():
        assert callable(getattr(fp.ops, fp._snake_case(op))), op
    assert fp.conv2d_backprop_input.__name__ == "conv2d_backprop_input"
    assert fp.sparse_softmax_cross_entropy_with_logits.__name__ == "sparse_softmax_cross_entropy_with_logits"


def test_metrics_computed_locally(rng):
    g = fp.Graph()
    with g.as_default():
        logits = fp.placeholder(fp.float32, [None, 3])
        labels = fp.placeholder(fp.int32, [None])
        scores = fp.placeholder(fp.float32, [None])
    lv = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 1], [3, 0, 0]], np.float32)
    acc, area = fp.Session(g).run([fp.accuracy(logits, labels), fp.auc(scores, labels)],
                                  {logits: lv, labels: [0, 1, 1, 1], scores: [0.5, 0.9, 0.8, 0.2]})
    assert acc == pytest.approx(0.5)
    assert area == pytest.approx(2 / 3)  # of the positives 0.9, 0.8, 0.2, two beat the negative 0.5
