"""examples/lstm_lm.py: the slide's model-parallel LSTM language model, built in
Python with one device scope inside the layer loop and a split softmax, trains
on a local cluster of 1 ps and 2 workers with 4 devices each, beats the
unigram baseline on held-out text, and ends with a sample of generated text.
Each layer's h and c are recurrent state the workers carry from step to step
over contiguous text (truncated BPTT), as the built-in lstm_lm does."""
import os
import sys

import numpy as np
import pytest

import flowps as fp
from local_cluster import LocalCluster

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
sys.path.insert(0, EXAMPLES)
FORTUNES = "/usr/share/games/fortunes"
needs_corpus = pytest.mark.skipif(not os.path.isdir(FORTUNES), reason=f"no fortunes at {FORTUNES} (package fortunes)")

import lstm_lm  # noqa: E402


def test_each_layer_requests_its_device_and_the_softmax_parts_theirs():
    g, tokens, targets, per_example, loss, states = lstm_lm.build_model(layers=4, hidden=8, embedding=4, unroll=3,
                                                                        devices=4)
    by_name = {op.name: op for op in g.operations()}
    for d in range(4):
        assert by_name[f"lstm{d}/W"].device == f"/device:cpu:{d}"
        assert by_name[f"softmax/part{d}/W"].device == f"/device:cpu:{d}"
    picks = [op for op in g.operations() if op.type == "PickColumn"]
    assert sorted(op.device for op in picks) == [f"/device:cpu:{d}" for d in range(4)]


def test_each_layers_initial_h_and_c_are_state_placeholders_on_its_device_paired_with_its_final_h_and_c():
    g, tokens, targets, per_example, loss, states = lstm_lm.build_model(layers=3, hidden=8, embedding=4, unroll=3,
                                                                        devices=2)
    initial = {p.op.name: p for p in states}
    assert sorted(initial) == sorted(f"lstm{d}/{s}" for d in range(3) for s in ("h0", "c0"))
    for d in range(3):
        for s in ("h0", "c0"):
            p = initial[f"lstm{d}/{s}"]
            assert p.op.type == "Placeholder" and p.op.device == f"/device:cpu:{d % 2}"
            assert states[p].op.device == f"/device:cpu:{d % 2}"  # the final value, computed on the layer's device


def test_the_final_state_of_one_window_fed_back_continues_the_text_as_one_long_window():
    """Carrying h and c is exact: the loss of text[3:6] from the state after
    text[0:3] equals the loss of those positions inside one 6-step window."""
    g3, tok3, tgt3, per3, _, st3 = lstm_lm.build_model(layers=2, hidden=8, embedding=4, unroll=3, devices=2)
    g6, tok6, tgt6, per6, _, st6 = lstm_lm.build_model(layers=2, hidden=8, embedding=4, unroll=6, devices=2)
    text = np.array([[72, 101, 108, 108, 111, 33, 10]], np.int32)
    s3, s6 = fp.Session(g3), fp.Session(g6)
    s3.run(fp.initialize_variables())
    s6.run(fp.initialize_variables())  # same seeds: the same variables
    zeros = {p: np.zeros((1, 8), np.float32) for p in st3}
    first = s3.run(list(st3.values()), {tok3: text[:, 0:3], tgt3: text[:, 1:4], **zeros})
    carried = dict(zip(st3, first))
    second = s3.run(per3, {tok3: text[:, 3:6], tgt3: text[:, 4:7], **carried})
    whole_first = s3.run(per3, {tok3: text[:, 0:3], tgt3: text[:, 1:4], **zeros})
    whole = s6.run(per6, {tok6: text[:, 0:6], tgt6: text[:, 1:7], **{p: np.zeros((1, 8), np.float32) for p in st6}})
    np.testing.assert_allclose((whole_first + second) / 2, whole, rtol=1e-5, atol=1e-6)


def test_the_split_softmax_loss_is_the_cross_entropy_over_the_concatenated_parts(rng):
    g = fp.Graph()
    with g.as_default():
        rows = fp.placeholder(fp.float32, [None, 8], name="rows")
        targets = fp.placeholder(fp.int32, [None], name="targets")
        loss = lstm_lm.split_softmax_loss(rows, targets, 8, ["/device:cpu:0", "/device:cpu:1", "/device:cpu:2"], 5)
    sess = fp.Session(g)
    sess.run(fp.initialize_variables())
    xs = rng.standard_normal((6, 8)).astype(np.float32)
    ys = np.array([0, 85, 86, 171, 255, 3], np.int32)  # both sides of each part's edge
    W = np.concatenate([sess.variable_value(f"softmax/part{p}/W") for p in range(3)], axis=1)
    b = np.concatenate([sess.variable_value(f"softmax/part{p}/b") for p in range(3)]) + 0
    logits = xs @ W + b
    top = logits.max(axis=1, keepdims=True)
    want = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0] - logits[np.arange(6), ys]
    np.testing.assert_allclose(sess.run(loss, {rows: xs, targets: ys}), want, rtol=1e-5, atol=1e-5)


@needs_corpus
def test_the_example_trains_on_1_ps_and_2_workers_with_4_devices_each_and_prints_a_sample(tmp_path, capsys):
    with LocalCluster(ps=1, workers=2, devices=[f"cpu:{d}" for d in range(4)]) as cluster:
        result = lstm_lm.main(["--cluster", cluster.spec, "--train", os.path.join(FORTUNES, "cookie"),
                               "--test", os.path.join(FORTUNES, "fortunes"), "--layers", "2", "--hidden", "128",
                               "--embedding", "32", "--unroll", "32", "--batch-size", "32",
                               "--learning-rate", "0.02", "--steps", "250", "--out", str(tmp_path)])
        logs = cluster.logs()
    out = capsys.readouterr().out
    # Each worker carries each layer's h and c (2 layers) over its contiguous streams.
    assert logs.count("recurrent state (4 tensors): carried from step to step (data.contiguous)") == 2, logs
    assert len(result["sample"]) == 300  # the chief's sample, printed by Job.submit
    assert "held-out perplexity per character" in out
    assert result["unigram_perplexity"] > 15
    assert result["perplexity"] < 0.6 * result["unigram_perplexity"]  # measured: 8.17 against 24.04
