#!/usr/bin/env python3
"""A residual MLP on Fashion-MNIST -- a model none of the built-ins covers: a
dense stem of 128 units, then two residual blocks h + W2 relu(W1 h + b1) + b2
(each block's last layer starts at zero, so each block starts as the identity),
trained on a flowps cluster.

    PYTHONPATH=build/python python3 examples/fashion_residual.py --cluster configs/local-2x2.yaml
"""
import sys

from common import fp, softmax_head, train_classifier


def dense(x, units_in, units_out, name, init):
    W = fp.variable(f"{name}/W", [units_in, units_out], init=init)
    b = fp.variable(f"{name}/b", [units_out], init=fp.init.zeros())
    return fp.bias_add(fp.matmul(x, W), b)


def residual_block(h, width, name, seed):
    inner = fp.relu(dense(h, width, width, f"{name}/inner", fp.init.he_normal(seed=seed)))
    return fp.relu(h + dense(inner, width, width, f"{name}/outer", fp.init.zeros()))


def build_model(width=128, blocks=2, seed=1):
    """The graph, its placeholders, logits and loss."""
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 784], name="x")
        y = fp.placeholder(fp.int32, [None], name="y")
        h = fp.relu(dense(x, 784, width, "stem", fp.init.he_normal(seed=seed)))
        for i in range(blocks):
            h = residual_block(h, width, f"block{i}", seed + 1 + i)
        logits, loss = softmax_head(h, width, y, seed + 1 + blocks)
    return g, x, y, logits, loss


def main(argv=None):
    return train_classifier("fashion-residual", build_model(), __doc__.splitlines()[0], argv, epochs=2,
                            extra_metrics=lambda loss: {"mean_loss": fp.mean(loss)})


if __name__ == "__main__":
    main(sys.argv[1:])
