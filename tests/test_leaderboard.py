"""The leaderboard command on a tiny configuration: runs, tables, figures, README; CIFAR skip note."""

from __future__ import annotations

import pandas as pd

from attrbench.cli import main
from attrbench.leaderboard import EARLIER_LAYER_CAMS, classification_methods, run_leaderboard, track_of
from attrbench.testing import toys as toy


def test_method_selection_excludes_other_tracks() -> None:
    from attrbench.methods import get_method, list_methods

    keep, skipped = classification_methods()
    base = [spec for spec in keep if "[" not in spec]
    assert set(base) | set(skipped) == set(list_methods())
    assert [spec for spec in keep if "[" in spec] == list(EARLIER_LAYER_CAMS)
    assert {"ig", "saliency", "gradcam", "oracle"} <= set(keep)
    for name, reason in skipped.items():
        assert track_of(get_method(name)) != "classification" or "constructor" in reason


def test_tiny_leaderboard_writes_tables_figures_and_readme(tmp_path) -> None:
    out = tmp_path / "lb"
    summary = run_leaderboard(
        out=out, n_samples=4, batch_size=4, cifar10_root=tmp_path / "no-cifar",
        suite={toy.DATASET: (toy.MODEL,), "cifar10": ("bagnet9-cifar10",)},
        methods=["saliency", "oracle"], metrics=["gt", "deletion[steps=4]"], device="cpu", gallery=2,
        command="python -m attrbench.leaderboard --tiny",
    )
    assert any("CIFAR-10 skipped" in n for n in summary["notes"])
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and "runs/" not in p.as_posix()}
    slug = toy.DATASET.replace(":", "_")
    for f in ("leaderboard.md", "leaderboard.csv", "leaderboard.tex", f"{slug}.md", f"{slug}.csv", f"{slug}.tex",
              "README.md", f"figures/{slug}/metrics.png", f"figures/{slug}/curves.pdf", f"figures/{slug}/gallery.png"):
        assert f in names, f
    table = pd.read_csv(out / "leaderboard.csv")
    assert set(table["metric"]) == {"gt_spearman", "gt_topk_precision@10", "gt_positive_mass", "deletion_auc"}
    oracle = table[(table["method"] == "oracle") & (table["metric"] == "gt_spearman")]
    assert oracle["mean"].item() == 1.0 and bool(oracle["reference"].item()) and not bool(oracle["best"].item())
    readme = (out / "README.md").read_text()
    assert "python -m attrbench.leaderboard --tiny" in readme and "CIFAR-10 skipped" in readme
    assert "Measured wall time" in readme


def test_cli_rejects_unknown_dataset(capsys) -> None:
    assert main(["leaderboard", "--datasets", "imagenet"]) == 2
    assert "--datasets: unknown 'imagenet'" in capsys.readouterr().err


def test_metrics_needing_masks_are_dropped_with_a_note() -> None:
    import torch

    from attrbench.api import Sample
    from attrbench.leaderboard import metrics_for

    no_masks = [Sample(image=torch.zeros(3, 8, 8), label=0, id="a")]  # judged by its first sample
    keep, notes = metrics_for(no_masks, ["gt", "localisation", "deletion[steps=4]"], label="cifar10")
    assert keep == ["gt", "deletion[steps=4]"]
    assert notes == ["localisation not scored: metric 'localisation' needs object masks; dataset 'cifar10' has none"]
    keep, notes = metrics_for(toy.ToyImages(), ["localisation"], label="toy")
    assert keep == ["localisation"] and notes == []
