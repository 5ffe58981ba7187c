#!/usr/bin/env python3
"""A convolutional network on Fashion-MNIST (two 5x5 convolutions with 2x2 max
pooling, a dense layer of 128), written in Python and trained on a flowps
cluster. Slower than the MLP on CPUs: try --steps 200 first.

    PYTHONPATH=build/python python3 examples/fashion_cnn.py --cluster configs/local-2x2.yaml --steps 200
"""
import sys

from common import fp, softmax_head, train_classifier


def conv_layer(x, k, channels_in, channels_out, name, seed):
    W = fp.variable(f"{name}/W", [k, k, channels_in, channels_out], init=fp.init.he_normal(seed=seed))
    b = fp.variable(f"{name}/b", [channels_out], init=fp.init.zeros())
    h = fp.relu(fp.bias_add(fp.conv2d(x, W, strides=[1, 1], padding="SAME"), b))
    return fp.max_pool(h, ksize=[2, 2], strides=[2, 2], padding="SAME")


def build_model(seed=1):
    """The graph, its placeholders, logits and loss."""
    g = fp.Graph()
    with g.as_default():
        x = fp.placeholder(fp.float32, [None, 784], name="x")
        y = fp.placeholder(fp.int32, [None], name="y")
        img = fp.reshape(x, shape=[-1, 28, 28, 1])
        c1 = conv_layer(img, 5, 1, 32, "conv1", seed)
        c2 = conv_layer(c1, 5, 32, 64, "conv2", seed + 1)
        flat = fp.reshape(c2, shape=[-1, 7 * 7 * 64])
        W = fp.variable("dense/W", [7 * 7 * 64, 128], init=fp.init.he_normal(seed=seed + 2))
        b = fp.variable("dense/b", [128], init=fp.init.zeros())
        h = fp.relu(fp.bias_add(fp.matmul(flat, W), b))
        logits, loss = softmax_head(h, 128, y, seed + 3)
    return g, x, y, logits, loss


def main(argv=None):
    return train_classifier("fashion-cnn", build_model(), __doc__.splitlines()[0], argv, epochs=1)


if __name__ == "__main__":
    main(sys.argv[1:])
