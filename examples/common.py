"""What the examples share: their command line, the Fashion-MNIST data, and
submitting a job to a running cluster.

Each example builds its graph with the flowps Python API, wraps it in a
``fp.Job`` and hands it to the cluster's chief (``job.submit``), which ships the
graph to every worker and creates the variables on the ps from the graph's
initializers. Run one against a launched local cluster:

    build/src/cli/flowps launch configs/local-2x2.yaml &
    PYTHONPATH=build/python python3 examples/fashion_mlp.py --cluster configs/local-2x2.yaml
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.isdir(os.path.join(HERE, "..", "build", "python")):
    sys.path.insert(0, os.path.join(HERE, "..", "build", "python"))  # run from a checkout without PYTHONPATH

import flowps as fp  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def parse_args(description, argv, epochs):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--cluster", required=True, help="the cluster spec (YAML) of a running cluster")
    p.add_argument("--data", default=FASHION, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--epochs", type=float, default=epochs, help="epochs of the training set")
    p.add_argument("--steps", type=int, default=0, help="train this many global steps instead of epochs")
    p.add_argument("--workers", type=int, default=0, help="workers of the cluster (default: read from --cluster)")
    p.add_argument("--out", default=None, help="folder for the job file, its graph and the run's metrics")
    return p.parse_args(argv)


def count_workers(cluster):
    """The number of worker tasks in a cluster spec (its jobs.worker.tasks list)."""
    n, in_worker, in_tasks = 0, False, False
    with open(cluster) as f:
        for line in f:
            text = line.split("#", 1)[0].rstrip()
            if not text:
                continue
            indent = len(text) - len(text.lstrip())
            if indent <= 2:
                in_worker, in_tasks = text.strip() == "worker:", False
            elif in_worker and text.strip() == "tasks:":
                in_tasks = True
            elif in_worker and in_tasks and text.strip().startswith("- "):
                n += 1
    return n


def wait_for_cluster(cluster, seconds=30):
    """Waits until the cluster's chief answers (a cluster launched a moment ago
    is still starting); after `seconds` the submission says why it cannot."""
    deadline = time.time() + seconds
    while time.time() < deadline and not fp.cluster_status(cluster)["reachable"]:
        time.sleep(0.5)


def softmax_head(h, width, y, seed):
    """The logits [N, 10] of h [N, width] (Glorot-uniform weights, zero bias),
    named "logits", and their mean sparse softmax cross-entropy against y, "loss"."""
    W = fp.variable("out/W", [width, 10], init=fp.init.glorot_uniform(seed=seed))
    b = fp.variable("out/b", [10], init=fp.init.zeros())
    logits = fp.bias_add(fp.matmul(h, W), b, name="logits")
    return logits, fp.reduce_mean(fp.sparse_softmax_cross_entropy_with_logits(logits, y), name="loss")


def train_classifier(name, model, description, argv, epochs, extra_metrics=None):
    """Parses argv, then trains ``model`` = (graph, x, y, logits, loss) with Adam
    on the cluster (x <- features, y <- label), reporting its accuracy and
    ``extra_metrics`` (a function of the loss giving {name: metric})."""
    args = parse_args(description, argv, epochs)
    g, x, y, logits, loss = model
    metrics = {"accuracy": fp.accuracy(logits, y)}
    metrics.update(extra_metrics(loss) if extra_metrics else {})
    return train(name, g, loss, metrics, {x: "features", y: "label"}, args, fp.optimizers.Adam(0.001))


def train(name, graph, loss, metrics, feeds, args, optimizer, batch_size=64):
    """Submits the model to the cluster in sync mode (one batch per worker per
    step), follows it and returns the final metrics (prints them too)."""
    workers = args.workers or count_workers(args.cluster)
    out = args.out or os.path.join("runs", name)
    length = {"steps": args.steps} if args.steps > 0 else {"epochs": args.epochs}
    job = fp.Job(name, graph, loss=loss, metrics=metrics,
                 data=fp.data.idx(args.data, feeds=feeds, batch_size=batch_size, seed=1),
                 optimizer=optimizer, mode=fp.Sync(total_workers=workers), log_every_steps=100,
                 run_dir=os.path.abspath(out), **length)
    wait_for_cluster(args.cluster)
    result = job.submit(cluster=args.cluster, wait=True, path=os.path.join(out, "job.yaml"))
    if "accuracy" in result:
        print(f"final test accuracy {100 * result['accuracy']:.2f}%")
    print(f"final test loss {result['loss']:.4f}")
    return result
