"""The feature commands end to end on the miniature CUB fixture (tiny VGG, CPU, seconds)."""

from __future__ import annotations

import csv

import pytest
import torch

from attrbench.cli import main
from attrbench.testing.cub_fixture import write_cub_fixture
from attrbench.testing.features import TINY_VGG


@pytest.fixture()
def cub(tmp_path):
    return write_cub_fixture(tmp_path / "cub")


def _data(cub) -> list[str]:
    return ["--dataset", "cub200", "--data-root", str(cub.root), "--split", "all", "--device", "cpu", "--batch-size", "4"]


def test_explanatory_graph_mine_infer_draw_instability_on_cub(cub, tmp_path, capsys) -> None:
    graph = tmp_path / "graph.pt"
    assert main(["explanatory-graph", "mine", "--model", TINY_VGG, *_data(cub), "--patterns", "2", "--parents", "2",
                 "--iterations", "2", "--warmup", "1", "--out", str(graph)]) == 0  # fmt: skip
    assert "mined 56 nodes on 6 images" in capsys.readouterr().out  # (4 + 8 + 16 filters) x 2 patterns
    positions = tmp_path / "positions.pt"
    assert main(["explanatory-graph", "infer", "--graph", str(graph), *_data(cub), "--out", str(positions)]) == 0
    saved = torch.load(positions, weights_only=True)
    assert saved["ids"] == sorted(saved["ids"], key=lambda i: [im.path for im in cub.images].index(i))
    assert saved["layers"]["net.features.26"]["positions"].shape == (32, 6, 2)
    assert main(["explanatory-graph", "draw", "--graph", str(graph), *_data(cub), "--n-patterns", "2",
                 "--n-patches", "3", "--out", str(tmp_path / "figs")]) == 0  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "patterns-net.features.12.png", "patterns-net.features.19.png", "patterns-net.features.26.png"]
    assert main(["explanatory-graph", "instability", "--graph", str(graph), *_data(cub), "--landmarks", "all", "--crop", "bbox",
                 "--top-images", "3", "--resamples", "20", "--out", str(tmp_path / "tables")]) == 0  # fmt: skip
    with (tmp_path / "tables" / "location_instability.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    layers = ["all", "net.features.26", "net.features.19", "net.features.12"]
    assert [(r["positions"], r["layer"]) for r in rows] == [
        (s, la) for s in ("explanatory graph", "raw filter peaks", "random positions") for la in layers]
    assert all(0 <= float(r["instability"]) <= 1 and r["images"] == "6" for r in rows)


def test_visualize_deconvnet_and_occlusion_on_cub(cub, tmp_path) -> None:
    out = tmp_path / "deconv"
    assert main(["visualize", "deconvnet", "--model", TINY_VGG, "--layer", "net.features.19", "--n-channels", "2",
                 "--k", "3", *_data(cub), "--out", str(out)]) == 0  # fmt: skip
    with (out / "top3-net.features.19.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and [r["rank"] for r in rows] == ["1", "2", "3"] * 2
    assert (out / "deconvnet-net.features.19.png").stat().st_size > 0
    occ = tmp_path / "occ"
    assert main(["experiment", "occlusion-sensitivity", "--model", TINY_VGG, *_data(cub), "--n-images", "2",
                 "--size", "8", "--stride", "8", "--out", str(occ)]) == 0  # fmt: skip
    assert sorted(p.name for p in occ.iterdir()) == ["occlusion-0.png", "occlusion-1.png", "occlusion.csv"]


def test_user_errors_are_one_line(cub, tmp_path, capsys) -> None:
    assert main(["explanatory-graph", "infer", "--graph", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt: file not found" in capsys.readouterr().err
    assert main(["visualize", "deconvnet", "--model", TINY_VGG, "--layer", "net.feature.19", *_data(cub)]) == 2
    assert "did you mean net.features.19" in capsys.readouterr().err


def test_results_experiment_runs_end_to_end_on_cub(cub, tmp_path) -> None:
    out = tmp_path / "features"
    assert main(["experiment", "features", TINY_VGG, "--dataset", "cub200", "--data-root", str(cub.root),
                 "--mine-images", "3", "--test-images", "3", "--iterations", "1", "--patterns", "1",
                 "--resamples", "10", "--landmarks", "all", "--occlusion-images", "3", "--device", "cpu",
                 "--out", str(out)]) == 0  # fmt: skip
    with (out / "location_instability.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    label = TINY_VGG.replace(":", "-")
    layers = ["all", "net.features.26", "net.features.19", "net.features.12"]  # top layer first
    sources = ["explanatory graph", "raw filter peaks", "random positions"]
    assert [(r["model"], r["positions"], r["layer"]) for r in rows] == [(label, s, la) for s in sources for la in layers]
    with (out / "location_instability_difference.csv").open() as fh:
        diffs = list(csv.DictReader(fh))
    assert [(r["versus"], r["layer"]) for r in diffs] == [(s, la) for s in sources[1:] for la in layers]
    assert {r["verdict"] for r in diffs} <= {"lower", "not lower", "inconclusive"}
    with (out / "occlusion_sensitivity.csv").open() as fh:
        (occ,) = list(csv.DictReader(fh))
    assert occ["images"] == "3" and 0 <= float(occ["on_share"]) <= 1  # the fixture's test images have boxes
    assert (out / "command.txt").read_text().startswith("attrbench experiment features ")
    figures = sorted(p.name for p in (out / label).iterdir())
    assert figures[:3] == ["deconvnet-net.features.12.png", "deconvnet-net.features.19.png", "deconvnet-net.features.26.png"]
    assert {"occlusion-0.png", "occlusion-1.png", "patterns-net.features.26.png"} <= set(figures)
    assert (out / "graphs" / f"{label}.pt").is_file() and (out / "location_instability.png").is_file()
    readme = (out / "README.md").read_text()
    assert f"- **{label}: {next(r['verdict'] for r in diffs if r['layer'] == 'all')}**" in readme
    assert "`deconvnet-net.features.12.png`" in readme and "| net.features.19 |" in readme


def test_results_experiment_with_bbox_crops_on_cub(cub, tmp_path) -> None:
    out = tmp_path / "features"
    assert main(["experiment", "features", TINY_VGG, "--dataset", "cub200", "--data-root", str(cub.root),
                 "--crop", "bbox", "--mine-images", "3", "--test-images", "3", "--iterations", "1", "--patterns", "1",
                 "--resamples", "5", "--device", "cpu", "--out", str(out)]) == 0  # fmt: skip
    readme = (out / "README.md").read_text()
    assert "n/a (no boxes, or images cropped to the box)" in readme and "whole scenes" not in readme
