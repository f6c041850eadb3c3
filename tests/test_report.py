"""Figures from stored records and curves: values, labels, files, CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from attrbench.cli import main as cli_main
from attrbench.export import load_records, summarise
from attrbench.report import curve_summary, curves_figure, load_tables, metrics_figure, save_figure, write_report
from attrbench.stats import mean_ci
from attrbench.testing.runs import write_run

VALUES = {
    "a": {"gt_spearman": [0.2, 0.4, 0.6], "deletion_auc": [1.0, 2.0, 3.0]},
    "b": {"gt_spearman": [0.5, 0.7, 0.9], "deletion_auc": [3.0, 3.0, 3.0]},
}
DIRECTIONS = {"gt_spearman": True, "deletion_auc": False}


def _curve(method: str, kind: str, i: int, fractions: np.ndarray) -> np.ndarray:
    # deletion: score falls linearly with slope 1 (a) or 2 (b), sample i adds offset 0.1 * i
    slope = 1.0 if method == "a" else 2.0
    base = 1.0 - slope * fractions if kind == "deletion" else slope * fractions
    return base + 0.1 * i


@pytest.fixture()
def run(tmp_path):
    return write_run(tmp_path / "run", values=VALUES, directions=DIRECTIONS, curve=_curve, n_steps=4)


def test_curve_summary_is_mean_and_ci_per_step(run) -> None:
    s = curve_summary(load_tables([run]).curves)
    row = s[(s["method"] == "b") & (s["curve"] == "deletion") & (s["step"] == 2)].iloc[0]
    scores = np.array([0.0, 0.1, 0.2])  # 1 - 2 * 0.5 + 0.1 * i
    mean, lo, hi = mean_ci(scores)
    assert row["fraction"] == pytest.approx(0.5)
    assert (row["mean"], row["ci_low"], row["ci_high"]) == (pytest.approx(0.1), pytest.approx(lo), pytest.approx(hi))
    assert row["n"] == 3
    assert len(s) == 2 * 2 * 5  # methods x curves x points


def test_curves_figure_axes_are_labelled_with_units(run) -> None:
    fig = curves_figure(load_tables([run]))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert axes[0].get_xlabel().startswith("fraction of the image removed")
    assert axes[1].get_xlabel().startswith("fraction of the image inserted")
    assert axes[0].get_ylabel() == "target score (class logit)"
    assert axes[0].get_xlim() == (0.0, 1.0)
    # the plotted mean line of method b on deletion is 1 - 2 f + 0.1
    line = next(li for li in axes[0].get_lines() if li.get_label() == "b")
    np.testing.assert_allclose(line.get_ydata(), 1.1 - 2 * np.array([0, 0.25, 0.5, 0.75, 1.0]), atol=1e-12)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]
    save_figure(fig, run, "tmp", ["png"])


def test_score_unit_follows_the_run_config(tmp_path) -> None:
    run = write_run(tmp_path / "p", values=VALUES, directions=DIRECTIONS, curve=_curve,
                    config={"metric_info": {"deletion[score=probability]": {"name": "deletion", "config": {"score": "probability"}}}})
    fig = curves_figure(load_tables([run]))
    assert fig.axes[0].get_ylabel() == "target score (class probability)"
    save_figure(fig, tmp_path, "tmp", ["png"])


def test_metrics_figure_has_direction_in_titles_and_ci_bars(run) -> None:
    summary = summarise(load_records([run]))
    fig = metrics_figure(summary)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["gt_spearman ↑  (higher is better)", "deletion_auc ↓  (lower is better)"]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    points = ax.lines[0].get_ydata()
    np.testing.assert_allclose(points, [0.4, 0.7], atol=1e-12)
    save_figure(fig, run, "tmp", ["png"])


def test_several_models_are_split_by_hue(tmp_path) -> None:
    r1 = write_run(tmp_path / "r1", values=VALUES, directions=DIRECTIONS, model="net1", run_id="r1", curve=_curve)
    r2 = write_run(tmp_path / "r2", values=VALUES, directions=DIRECTIONS, model="net2", run_id="r2", curve=_curve)
    fig = metrics_figure(summarise(load_records([r1, r2])))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["net1", "net2"]
    save_figure(fig, tmp_path, "m", ["png"])
    fig = curves_figure(load_tables([r1, r2]))
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4  # 2 models x 2 curves
    save_figure(fig, tmp_path, "c", ["png"])


def test_write_report_writes_png_and_pdf(run, tmp_path) -> None:
    out = tmp_path / "fig"
    paths = write_report([run], out=out, formats=["png", "pdf"])
    assert sorted(p.name for p in paths) == ["curves.pdf", "curves.png", "metrics.pdf", "metrics.png"]
    with Image.open(out / "curves.png") as im:
        assert im.size[0] > 600 and im.size[1] > 300
    assert (out / "metrics.pdf").read_bytes().startswith(b"%PDF")
    # same stored data -> same PDF bytes (no timestamps in the file)
    again = write_report([run], out=tmp_path / "fig2", formats=["pdf"])
    assert (tmp_path / "fig2" / "metrics.pdf").read_bytes() == (out / "metrics.pdf").read_bytes()
    assert len(again) == 2


def test_cli_report(run, tmp_path, capsys) -> None:
    out = tmp_path / "cli"
    assert cli_main(["report", str(run), "--out", str(out), "--format", "png"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "metrics.png"]
    assert cli_main(["report", str(run), "--out", str(out), "--format", "gif"]) == 2
    assert "gif" in capsys.readouterr().err


def test_gallery_recomputes_maps_from_the_run_config(tmp_path) -> None:
    import torch

    from attrbench.api import ClassLogit
    from attrbench.gallery import compute_gallery, gallery_figure
    from attrbench.methods.saliency import Saliency
    from attrbench.models.zoo import load_model
    from attrbench.runner import RunConfig, run
    from attrbench.testing import toys as toy

    out = tmp_path / "run"
    run(RunConfig(methods=["saliency", "oracle"], model=toy.MODEL, dataset=toy.DATASET, metrics=["runtime"], n_samples=4, sampling="first",
                  batch_size=4, out=str(out), device="cpu", progress=False))
    g = compute_gallery(out, samples=["toy3", "toy1"], device="cpu")
    assert g.ids == ["toy3", "toy1"] and list(g.maps) == ["saliency", "oracle"]
    data = toy.ToyImages()
    x = torch.stack([data[3].image, data[1].image]).double()
    labels = torch.tensor([3, 1])
    model = load_model(toy.MODEL)
    # saliency with its declared "magnitude" post-processing: max over channels of |input gradient|
    expected = Saliency(model, spec=model.spec)(x, target=ClassLogit(labels)).abs().amax(1, keepdim=True)
    torch.testing.assert_close(g.maps["saliency"], expected, rtol=0, atol=1e-12)
    # ground truth spread over receptive fields keeps its total: f_c(x) - b_c per sample
    logits = model(x).gather(1, labels.view(-1, 1)).squeeze(1) - model.net.fc.bias[labels]
    torch.testing.assert_close(g.truth.sum(dim=(1, 2, 3)), logits.detach(), rtol=0, atol=1e-10)
    # the oracle row is the truth itself
    torch.testing.assert_close(g.maps["oracle"], g.truth, rtol=0, atol=1e-12)
    fig = gallery_figure(out, samples=["toy3", "toy1"], maps=g)
    assert [ax.get_title() for ax in fig.axes[:4]] == ["image", "ground truth", "saliency", "oracle"]
    from attrbench.report import save_figure

    assert save_figure(fig, tmp_path, "gallery", ["png"])[0].stat().st_size > 1000
    # panels wrap: 4 per sample at most 2 side by side -> 2 rows per sample, every panel titled
    wrapped = gallery_figure(out, samples=["toy3", "toy1"], maps=g, max_columns=2)
    titles = [ax.get_title() for ax in wrapped.axes if ax.get_visible()]
    assert titles == ["image", "ground truth", "saliency", "oracle"] * 2
    with pytest.raises(ValueError, match="not among the run's 4 samples"):
        compute_gallery(out, samples=["toy5"], device="cpu")
