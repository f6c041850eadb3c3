"""The metric-learning track end to end from the CLI on the CUB-200-2011 miniature (4 classes:
2 training classes for the transfer database, 2 unseen classes explained)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from attrbench.cli import main
from attrbench.datasets.cub200 import CUB200
from attrbench.experiments.ml_gradcam import VARIANTS
from attrbench.results import load_run
from attrbench.runner import split_specs
from attrbench.testing.cub_fixture import write_cub_fixture

TINY = "attrbench.testing.embedding:tiny_embedding_net"


def test_fixture_class_count_adds_classes_with_both_splits(tmp_path):
    cub = write_cub_fixture(tmp_path, num_classes=4)
    assert len(cub.class_names) == 4 and len(cub.images) == 6 + 2 * 4
    unseen = CUB200(root=cub.root, split="test", classes="second_half")
    assert len(unseen) == 4  # classes 3 and 4, two test images each: every anchor has a positive and negatives
    assert sorted({unseen[i].label for i in range(len(unseen))}) == [0, 1]
    train = CUB200(root=cub.root, split="all", classes="first_half")
    assert len(train) == 6  # the two default classes, unchanged


def test_fixture_default_is_unchanged(tmp_path):
    cub = write_cub_fixture(tmp_path)
    assert len(cub.class_names) == 2 and [im.image_id for im in cub.images] == [3, 7, 12, 20, 21, 40]


def test_embedding_track_runs_on_cub_fixture_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTRBENCH_CACHE", str(tmp_path / "cache"))
    cub = write_cub_fixture(tmp_path / "cub", num_classes=4)
    out = tmp_path / "run"
    methods = "mlgradcam[n_triplets=3,top_k=4],mlgradcam-transfer,embeddingcam"
    assert main(["run", "--track", "embedding", "--dataset", "cub200", "--data-root", str(cub.root),
                 "--model", TINY, "--methods", methods, "--metrics", "localisation,deletion[steps=4]",
                 "--n-samples", "4", "--batch-size", "4", "--out", str(out), "--quiet"]) == 0
    records = load_run(out).records
    assert set(records["method"]) == set(split_specs(methods))
    assert records["sample_id"].nunique() == 4
    assert (records["status"] == "ok").all()
    assert all(math.isfinite(v) for v in records["value"].astype(float))
    # the transfer database was built on the 6 training-class images and cached
    dbs = list((tmp_path / "cache" / "embedding-db").glob("*.pt"))
    assert len(dbs) == 1


@pytest.mark.slow
def test_ml_gradcam_experiment_on_cub_fixture_writes_the_readme(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTRBENCH_CACHE", str(tmp_path / "cache"))
    cub = write_cub_fixture(tmp_path / "cub", num_classes=4)
    out = tmp_path / "out"
    bench = tmp_path / "no-benchmark.json"
    args = ["experiment", "ml-gradcam", "--dataset", "cub200", "--data-root", str(cub.root), "--models", TINY,
            "--n-samples", "4", "--batch-size", "4", "--figure-images", "1", "--benchmark", str(bench),
            "--out", str(out)]
    assert main(args) == 0
    table = pd.read_csv(out / "table.csv")
    assert list(table["spec"]) == [spec for _, _, spec in VARIANTS]
    assert set(json.loads((out / "databases.json").read_text())) >= {"gradcam/triplet/K50", "gradcampp/triplet/K50"}
    readme = (out / "README.md").read_text()
    for section in ("## Setup", "## Paper-structure table", "## Explanation quality vs Recall@1", "## Comparisons",
                    "## The paper's four claims", "## Speed of weight transfer"):
        assert section in readme
    claim_lines = [line for line in readme.splitlines() if line.startswith(("| 1 |", "| 2 |", "| 3 |", "| 4 |"))]
    assert len(claim_lines) == 4
    assert all(line.endswith(("**holds** |", "**does not hold** |", "**inconclusive** |")) for line in claim_lines)
    assert "tiny-embedding-bagnet9" in readme and "embeddingcam" in readme and "top_k_by=magnitude" in readme
    # --tables-only rebuilds the same README from the stored run
    (out / "README.md").unlink()
    assert main([*args, "--tables-only"]) == 0
    assert (out / "README.md").read_text() == readme
