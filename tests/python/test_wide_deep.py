"""The wide & deep example (examples/wide_deep.py) on a local cluster of 2 ps
and 2 workers, on a click log made by `flowps data synth-ctr`: its test AUC
comes within 0.02 of the best the generator says any model can reach."""
import os
import re
import subprocess
import sys

import pytest

import flowps as fp
from local_cluster import BIN_DIR, LocalCluster

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
sys.path.insert(0, EXAMPLES)
QUIET = open(os.devnull, "w")


def synth_ctr(out, examples, ids, seed):
    """Writes the click log; returns the generator's best test AUC."""
    printed = subprocess.run([os.path.join(BIN_DIR, "flowps"), "data", "synth-ctr", "--examples", str(examples),
                              "--ids", str(ids), "--fields", "8", "--seed", str(seed), "--out", str(out)],
                             check=True, capture_output=True, text=True).stdout
    return float(re.search(r"\(the ceiling\): ([0-9.]+)", printed).group(1))


def test_the_python_wide_deep_example_reaches_the_generators_auc_within_0_02(tmp_path):
    import wide_deep
    ceiling = synth_ctr(tmp_path / "ctr", examples=60000, ids=1000, seed=3)
    with LocalCluster(ps=2, workers=2, threads=1) as cluster:
        result = wide_deep.main(["--cluster", cluster.spec, "--data", str(tmp_path / "ctr"), "--epochs", "4",
                                 "--out", str(tmp_path / "run")])
    assert set(result) >= {"auc", "log_loss", "loss"}
    assert "accuracy" not in result
    assert result["auc"] >= ceiling - 0.02, f"test auc {result['auc']:.4f}, the generator's best {ceiling:.4f}"


def test_a_table_looked_up_from_two_columns_is_refused(tmp_path):
    table = fp.EmbeddingTable("t", 4, optimizer=fp.optimizers.Adagrad(0.1))
    g = fp.Graph()
    with g.as_default():
        offsets = fp.placeholder(fp.int64, [None], name="offsets")
        fp.embedding_lookup(table, "ids", offsets)
        with pytest.raises(fp.Error, match="looked up from column 'ids' already"):
            fp.embedding_lookup(table, "other_ids", offsets)


def test_a_job_with_tables_writes_them_into_its_spec(tmp_path):
    import wide_deep
    g, tables, y, offsets, loss, metrics = wide_deep.build_model()
    (tmp_path / "train.libsvm").write_text("1 5:1 7:1\n0 9:1\n")
    data = fp.data.libsvm(str(tmp_path / "train.libsvm"), None, feeds={y: "label", offsets: "offsets"})
    job = fp.Job("wd", g, loss=loss, metrics=metrics, data=data, tables=tables, optimizer=fp.optimizers.Adam(0.01),
                 mode=fp.Sync(total_workers=1), steps=10)
    job.save(str(tmp_path / "job.yaml"))
    spec = (tmp_path / "job.yaml").read_text()
    assert "tables:" in spec and "wide:" in spec and '"ftrl"' in spec and '"adagrad"' in spec
