#!/usr/bin/env python3
"""Wide & deep on a click log, written in Python and trained on a flowps
cluster: the wide part is a linear model on the ids (an embedding table of
dim 1 trained with FTRL), the deep part sums each example's rows of an
embedding table (Adagrad) into an MLP (Adam). The tables live on the ps,
sharded by the hash of the key; no [V, d] tensor exists anywhere.

    build/src/cli/flowps data synth-ctr --examples 200000 --ids 5000 --out runs/ctr
    PYTHONPATH=build/python python3 examples/wide_deep.py --cluster configs/local-2x2.yaml --data runs/ctr

It reports the test AUC and log loss; the generator printed the best AUC any
model can reach on that test split.
"""
import argparse
import os
import sys

from common import count_workers, fp, wait_for_cluster


def build_model(embedding_dim=8, hidden=(32,), seed=1):
    """The graph, its tables, placeholders (y <- label, offsets <- offsets),
    loss and metrics (auc, log_loss)."""
    wide = fp.EmbeddingTable("wide", 1, optimizer=fp.optimizers.Ftrl(0.2, l2=0.001, initial_accumulator=0.001))
    deep = fp.EmbeddingTable("deep", embedding_dim, optimizer=fp.optimizers.Adagrad(0.02, initial_accumulator=0.01),
                             initializer=fp.init.random_normal(stddev=0.05, seed=7))
    g = fp.Graph()
    with g.as_default():
        y = fp.placeholder(fp.int32, [None], name="y")
        offsets = fp.placeholder(fp.int64, [None], name="offsets")
        linear = fp.embedding_lookup(wide, "ids", offsets, combiner="sum")  # [batch, 1]
        h = fp.embedding_lookup(deep, "ids", offsets, combiner="sum")       # [batch, embedding_dim]
        width = embedding_dim
        for i, units in enumerate(hidden):
            W = fp.variable(f"deep/hidden{i}/W", [width, units], init=fp.init.he_normal(seed=seed + i))
            b = fp.variable(f"deep/hidden{i}/b", [units], init=fp.init.zeros())
            h = fp.relu(fp.bias_add(fp.matmul(h, W), b))
            width = units
        W = fp.variable("deep/out/W", [width, 1], init=fp.init.he_normal(seed=seed + len(hidden)))
        b = fp.variable("deep/out/b", [1], init=fp.init.zeros())
        z = fp.bias_add(fp.matmul(h, W), b) + linear                         # the click logit [batch, 1]
        # log loss as the softmax cross-entropy of the logits [0, z]: stable for any z
        per_example = fp.sparse_softmax_cross_entropy_with_logits(fp.concat([fp.zeros_like(z), z], axis=1), y)
        loss = fp.reduce_mean(per_example, name="loss")
        score = fp.reshape(fp.sigmoid(z), shape=[None])
        metrics = {"auc": fp.auc(score, y), "log_loss": fp.mean(per_example)}
    return g, [wide, deep], y, offsets, loss, metrics


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cluster", required=True, help="the cluster spec (YAML) of a running cluster")
    p.add_argument("--data", required=True, help="folder of train.libsvm and test.libsvm (flowps data synth-ctr)")
    p.add_argument("--epochs", type=float, default=4, help="epochs of the training set")
    p.add_argument("--batch-size", type=int, default=256, help="examples per worker per step")
    p.add_argument("--out", default=os.path.join("runs", "wide-deep-py"), help="folder of the job file and metrics")
    args = p.parse_args(argv)

    g, tables, y, offsets, loss, metrics = build_model()
    data = fp.data.libsvm(os.path.join(args.data, "train.libsvm"), os.path.join(args.data, "test.libsvm"),
                          feeds={y: "label", offsets: "offsets"}, batch_size=args.batch_size, seed=1)
    job = fp.Job("wide-deep-py", g, loss=loss, metrics=metrics, data=data, tables=tables,
                 optimizer=fp.optimizers.Adam(0.01), mode=fp.Sync(total_workers=count_workers(args.cluster)),
                 epochs=args.epochs, log_every_steps=100, run_dir=os.path.abspath(args.out))
    wait_for_cluster(args.cluster)
    result = job.submit(cluster=args.cluster, wait=True, path=os.path.join(args.out, "job.yaml"))
    print(f"final test auc {result['auc']:.4f}, log loss {result['log_loss']:.4f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
