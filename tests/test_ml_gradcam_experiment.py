"""The ml-gradcam experiment end to end from the CLI: a tiny SynthBirds copy, an embedding net
trained with a snapshot, both checkpoints through every variant, tables and figures."""

from __future__ import annotations

import pandas as pd
import pytest

from attrbench.cli import main
from attrbench.experiments.ml_gradcam import VARIANTS


@pytest.mark.slow
def test_experiment_runs_end_to_end_on_two_checkpoints(tmp_path, monkeypatch):
    from attrbench.datasets.synthbirds import generate

    monkeypatch.setenv("ATTRBENCH_CACHE", str(tmp_path / "cache"))
    root = generate(tmp_path / "sb", num_classes=4, train_per_class=3, test_per_class=2, image_size=48)
    ckpt = tmp_path / "tiny.pt"
    assert main(["train-embedding", "--dataset", "synthbirds", "--data-root", str(root), "--image-size", "48",
                 "--width", "2", "--dim", "8", "--epochs", "2", "--snapshots", "1", "--classes-per-batch", "2",
                 "--images-per-class", "2", "--name", "tiny", "--out", str(ckpt)]) == 0
    out = tmp_path / "out"
    models = f"{ckpt},{tmp_path / 'tiny-ep1.pt'}"
    assert main(["experiment", "ml-gradcam", "--models", models, "--data-root", str(root), "--n-samples", "2",
                 "--batch-size", "2", "--figure-images", "1", "--out", str(out)]) == 0
    table = pd.read_csv(out / "table.csv")
    assert list(table["spec"]) == [spec for _, _, spec in VARIANTS]
    quality = pd.read_csv(out / "quality_vs_recall.csv")
    assert set(quality["model"]) == {"tiny", "tiny-ep1"}
    comp = pd.read_csv(out / "comparisons.csv")
    assert {"p_holm", "verdict", "margin"} <= set(comp.columns)
    for name in ("table.md", "quality_vs_recall.png", "qualitative.png", "databases.json", "command.txt"):
        assert (out / name).is_file()
    # the tables can be rebuilt from the stored runs alone
    assert main(["experiment", "ml-gradcam", "--models", models, "--out", str(out), "--tables-only"]) == 0
