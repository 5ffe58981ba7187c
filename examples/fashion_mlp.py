#!/usr/bin/env python3
"""A multilayer perceptron (784-256-10) on Fashion-MNIST, written in Python and
trained on a flowps cluster: about 86% test accuracy after 3 epochs on 2 workers.

    PYTHONPATH=build/python python3 examples/fashion_mlp.py --cluster configs/local-2x2.yaml
"""
import sys

from common import fp, softmax_head, train_classifier


def build_model(hidden=256, seed=1):
    """The graph, its placeholders, logits and loss."""
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 784], name="x")
        y = fp.placeholder(fp.int32, [None], name="y")
        W1 = fp.variable("hidden/W", [784, hidden], init=fp.init.he_normal(seed=seed))
        b1 = fp.variable("hidden/b", [hidden], init=fp.init.zeros())
        h = fp.relu(fp.bias_add(fp.matmul(x, W1), b1))
        logits, loss = softmax_head(h, hidden, y, seed + 1)
    return g, x, y, logits, loss


def main(argv=None):
    return train_classifier("fashion-mlp", build_model(), __doc__.splitlines()[0], argv, epochs=3)


if __name__ == "__main__":
    main(sys.argv[1:])
