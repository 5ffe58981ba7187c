#!/usr/bin/env python3
"""A character-level language model made model-parallel by one line, as on the
slide: an embedding, 4 LSTM layers with layer d on device d, and a softmax over
the 256 byte values split by columns over the devices. Trained on the Debian
fortunes corpus by a flowps cluster (each worker one model-parallel replica, sync
mode); prints the held-out perplexity beside the unigram baseline and the
sample of generated text the chief reports at the end.

    build/src/cli/flowps launch configs/local-lstm.yaml &
    PYTHONPATH=build/python python3 examples/lstm_lm.py --cluster configs/local-lstm.yaml
"""
import argparse
import collections
import glob
import math
import os
import sys

from common import count_workers, fp, wait_for_cluster

FORTUNES = "/usr/share/games/fortunes"
VOCAB = 256  # byte values


def lstm_layer(name, inputs, width, hidden, seed):
    """One LSTM layer over the time steps ``inputs`` (each [N, width]): its
    outputs h_t. Gates from [x, h] W + b; the state starts at zero, so step 0
    multiplies x by the input rows of W only."""
    W = fp.variable(f"{name}/W", [width + hidden, 4 * hidden], init=fp.init.glorot_uniform(seed=seed))
    b = fp.variable(f"{name}/b", [4 * hidden], init=fp.init.zeros())
    h = c = None
    outputs = []
    for x in inputs:
        if h is None:
            z = fp.matmul(x, fp.slice(W, begin=[0, 0], size=[width, 4 * hidden]))
        else:
            z = fp.matmul(fp.concat([x, h], axis=1), W)
        i, f, o, g = fp.split(fp.bias_add(z, b), num_split=4, axis=1)
        candidate = fp.sigmoid(i) * fp.tanh(g)
        c = candidate if c is None else fp.sigmoid(f + 1.0) * c + candidate  # forget bias 1
        h = fp.sigmoid(o) * fp.tanh(c)
        outputs.append(h)
    return outputs


def split_softmax_loss(rows, targets, hidden, devices, seed):
    """Per-character cross-entropy [N*T] of ``rows`` [N*T, hidden]: the output
    projection split by columns over ``devices``, each part's log-sum-exp and
    picked label logit on its device, the loss assembled from the parts."""
    lse, picked, parts, offset = [], [], [], 0
    for p, device in enumerate(devices):
        width = VOCAB // len(devices) + (1 if p < VOCAB % len(devices) else 0)
        with fp.device(device):
            W = fp.variable(f"softmax/part{p}/W", [hidden, width], init=fp.init.glorot_uniform(seed=seed + p))
            b = fp.variable(f"softmax/part{p}/b", [width], init=fp.init.zeros())
            logits = fp.bias_add(fp.matmul(rows, W), b)
            parts.append(logits)
            lse.append(fp.log_sum_exp(logits))
            picked.append(fp.pick_column(logits, targets, offset=offset, vocab=VOCAB))
        offset += width
    with fp.device(devices[0]):
        # The whole [N*T, vocab] logits, named "logits": only sampling runs them
        # (the chief samples text from a graph with "tokens" and "logits").
        fp.concat(parts, axis=1, name="logits")
        label_logit = picked[0]
        for p in picked[1:]:
            label_logit = label_logit + p
        return fp.reshape(fp.log_sum_exp(fp.concat(lse, axis=1)) - label_logit, shape=[-1])


def build_model(layers=4, hidden=256, embedding=64, unroll=64, devices=4, seed=1):
    """The graph, its placeholders, per-example loss and mean loss."""
    g = fp.Graph()
    with g.as_default():
        tokens = fp.placeholder(fp.int32, [None, unroll], name="tokens")
        targets = fp.placeholder(fp.int32, [None, unroll], name="targets")
        with fp.device("/device:cpu:0"):
            table = fp.variable("embedding", [VOCAB, embedding], init=fp.init.random_uniform(-0.1, 0.1, seed=seed))
            steps = [fp.reshape(x, shape=[-1, embedding])
                     for x in fp.split(fp.embedding_lookup(table, tokens), num_split=unroll, axis=1)]
        width = embedding
        for d in range(layers):
            with fp.device(f"/device:cpu:{d % devices}"):  # the slide's one line: layer d on device d
                steps = lstm_layer(f"lstm{d}", steps, width, hidden, seed + 100 + d)
            width = hidden
        with fp.device(f"/device:cpu:{(layers - 1) % devices}"):
            rows = fp.reshape(fp.concat(steps, axis=1), shape=[-1, hidden])  # row n*T + t
            flat_targets = fp.reshape(targets, shape=[-1])
        per_char = split_softmax_loss(rows, flat_targets, hidden, [f"/device:cpu:{d}" for d in range(devices)],
                                      seed + 200)
        per_example = fp.reduce_mean(fp.reshape(per_char, shape=[-1, unroll]), axes=[1])
        loss = fp.reduce_mean(per_example, name="loss")
    return g, tokens, targets, per_example, loss


def unigram_perplexity(paths):
    """exp of the entropy of the byte distribution of the files: the
    perplexity of predicting each byte by its frequency alone."""
    counts = collections.Counter()
    for path in paths:
        with open(path, "rb") as f:
            counts.update(f.read())
    n = sum(counts.values())
    return math.exp(-sum(c / n * math.log(c / n) for c in counts.values()))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cluster", required=True, help="the cluster spec (YAML) of a running cluster")
    p.add_argument("--train", default=os.path.join(FORTUNES, "[c-v]*[!t8]"),
                   help="text files to train on (a file, folder or glob; the default leaves out .dat and .u8)")
    p.add_argument("--test", default=os.path.join(FORTUNES, "wisdom"),
                   help="held-out text files (wisdom: prose like the training files; zippy, all capitals, is not)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--unroll", type=int, default=64, help="time steps per example (truncated BPTT)")
    p.add_argument("--devices", type=int, default=4, help="devices per worker: layer d on cpu:(d mod devices)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=0.003)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--workers", type=int, default=0, help="workers of the cluster (default: read from --cluster)")
    p.add_argument("--out", default=os.path.join("runs", "lstm_lm"), help="folder for the job file and metrics")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    g, tokens, targets, per_example, loss = build_model(args.layers, args.hidden, args.embedding, args.unroll,
                                                        args.devices)
    workers = args.workers or count_workers(args.cluster)
    job = fp.Job("lstm-lm", g, loss=loss, metrics={"perplexity": fp.perplexity(per_example)},
                 data=fp.data.text(args.train, {tokens: "tokens", targets: "targets"}, args.unroll,
                                   test=args.test, batch_size=args.batch_size, seed=1),
                 optimizer=fp.optimizers.Adam(args.learning_rate, clip_norm=5.0),
                 mode=fp.Sync(total_workers=workers), steps=args.steps, log_every_steps=50,
                 run_dir=os.path.abspath(args.out))
    wait_for_cluster(args.cluster)
    result = job.submit(cluster=args.cluster, wait=True, path=os.path.join(args.out, "job.yaml"))
    baseline = unigram_perplexity(sorted(glob.glob(args.test)))
    print(f"held-out perplexity per character: {result['perplexity']:.2f} "
          f"(unigram baseline {baseline:.2f})")
    return dict(result, unigram_perplexity=baseline)


if __name__ == "__main__":
    main(sys.argv[1:])
