"""The leaderboard command on a tiny configuration: runs, tables, figures, README; CIFAR skip note."""

from __future__ import annotations

import json

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
    # the headline now shows the chance-corrected sign metric (issue 10), not the raw positive mass
    assert set(table["metric"]) == {"gt_spearman", "gt_topk_precision@10", "gt_positive_mass_corrected", "deletion_auc"}
    oracle = table[(table["method"] == "oracle") & (table["metric"] == "gt_spearman")]
    assert oracle["mean"].item() == 1.0 and bool(oracle["reference"].item()) and not bool(oracle["best"].item())
    readme = (out / "README.md").read_text()
    assert "python -m attrbench.leaderboard --tiny" in readme and "CIFAR-10 skipped" in readme
    assert "Measured wall time" in readme


def test_cli_rejects_unknown_dataset(capsys) -> None:
    assert main(["leaderboard", "--datasets", "imagenet"]) == 2
    assert "--datasets: unknown 'imagenet'" in capsys.readouterr().err


def test_cli_rejects_unknown_model_and_suggests_the_closest(capsys) -> None:
    assert main(["leaderboard", "--models", "bagnet33-synthbird"]) == 2
    assert "--models: 'bagnet33-synthbird' is not in the suite; did you mean 'bagnet33-synthbirds'" in capsys.readouterr().err


def test_models_option_keeps_only_the_named_models_and_their_datasets() -> None:
    from attrbench.commands.leaderboard import _only_models

    suite = {"synthbirds": ("a", "b", "c"), "cifar10": ("d", "e")}
    assert _only_models(suite, ["c", "a"]) == {"synthbirds": ("a", "c")}  # suite order kept
    assert _only_models(suite, ["e", "b"]) == {"synthbirds": ("b",), "cifar10": ("e",)}


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


def test_whole_issue10_pipeline_on_a_toy_setup(tmp_path) -> None:
    """Every leaderboard metric, tied groups, reference rows, ceilings and the meta-evaluation, tiny."""
    out = tmp_path / "lb"
    metrics = ["gt", "gt_cell[permutations=4]", "deletion[fill=zero,steps=2]", "deletion[fill=mean,steps=2]",
               "deletion[fill=blur,steps=2]", "insertion[steps=2]", "road[fractions=0.5]", "patch_deletion",
               "localisation", "randomisation[max_samples=2,max_stages=1,floor=true]", "random_logit"]
    summary = run_leaderboard(out=out, n_samples=4, batch_size=4, cifar10_root=None, suite={toy.DATASET: (toy.MODEL,)},
                              methods=["saliency", "ig[n_steps=4]", "gradcam", "oracle"], metrics=metrics,
                              device="cpu", gallery=0, ceiling_samples=2)  # fmt: skip
    slug = toy.DATASET.replace(":", "_")
    table = pd.read_csv(out / f"{slug}.csv")
    for name in ("cellgt_spearman", "cellgt_sign_agreement_corrected", "deletion_auc[fill=zero,steps=2]",
                 "deletion_auc[fill=mean,steps=2]", "deletion_auc[fill=blur,steps=2]", "road_morf", "mprt_floor_spearman",
                 "random_logit_spearman", "loc_pointing_game"):
        assert name in set(table["metric"]), name
    refs = table[table["reference"].astype(bool)]
    assert set(refs["method"]) == {"gradcam", "oracle"} and not refs["best"].astype(bool).any()
    md = (out / f"{slug}.md").read_text()
    assert "alpha = 0.05" in md and "gradcam (ref.)" in md
    readme = (out / "README.md").read_text()
    assert "## Ceilings per family" in readme and "## Meta-evaluation" in readme and "plausibility" in readme
    assert "## Fills that do not delete" in readme and "run's wall time (min)" in readme
    (timing,) = summary["timings"]
    stored = json.loads((out / "runs" / slug / timing["model"].replace(":", "_") / "config.json").read_text())
    assert timing["run_seconds"] == stored["phase_seconds"]["total"] > 0 and timing["threads"] == stored["torch_threads"]
    ceilings = summary["extras"][toy.DATASET]["ceilings"]
    (model_ceilings,) = ceilings.values()
    assert model_ceilings["patch truth (gt_spearman), patch maps"] == 1.0
    assert model_ceilings["cell truth (cellgt_spearman), pixel maps"] > 0.999
    meta = summary["extras"][toy.DATASET]["meta"]
    assert {"deletion_auc[fill=mean,steps=2]", "insertion_auc", "road_morf"} <= set(meta["proxy"])
    assert meta["n_methods"].eq(2).all() and meta["tau"].abs().le(1).all()  # saliency and ig (refs left out)


def test_meta_evaluation_by_construction() -> None:
    """A proxy that orders three methods as the truth does: tau = 1 (interval too); reversed: -1."""
    from attrbench.leaderboard_tables import meta_evaluation

    rows = []
    for i in range(6):
        for m, v in (("a", 0.9), ("b", 0.5), ("c", 0.1)):
            rows.append({"model": "mo", "method": m, "sample_id": f"s{i}", "status": "ok", "metric": "cellgt_spearman",
                         "value": v + 0.01 * i, "higher_is_better": True})
            rows.append({"model": "mo", "method": m, "sample_id": f"s{i}", "status": "ok", "metric": "deletion_auc",
                         "value": 1 - v, "higher_is_better": False})  # lower is better: same order
            rows.append({"model": "mo", "method": m, "sample_id": f"s{i}", "status": "ok", "metric": "insertion_auc",
                         "value": 1 - v, "higher_is_better": True})  # reversed order
    meta = meta_evaluation(pd.DataFrame(rows), resamples=50).set_index("proxy")
    assert meta.loc["deletion_auc", ["tau", "ci_low", "ci_high"]].tolist() == [1.0, 1.0, 1.0]
    assert meta.loc["insertion_auc", "tau"] == -1.0 and meta.loc["insertion_auc", "n_images"] == 6


def test_seed_stability_by_construction() -> None:
    """Seeds 0 and 1 order three methods alike (tau 1), seed 2 reverses them (tau -1); the direction
    of a lower-is-better metric is applied to both rankings; references, runtime, chance levels and
    MPRT floors are left out."""
    from attrbench.leaderboard import SUITE
    from attrbench.leaderboard_tables import SEED_MODELS, seed_stability, seed_stability_lines

    assert set(SEED_MODELS) <= set(SUITE["synthbirds"])
    order = {SEED_MODELS[0]: (0.9, 0.5, 0.1), SEED_MODELS[1]: (0.8, 0.6, 0.2), SEED_MODELS[2]: (0.1, 0.5, 0.9)}
    rows = []
    for model, values in order.items():
        for i in range(3):
            for m, v in zip(("a", "b", "c", "oracle"), (*values, 1.0)):
                for metric, value, up in (("gt_spearman", v, True), ("deletion_auc", -v, False), ("runtime_s", v, False),
                                          ("gt_sign_agreement_chance", v, True), ("mprt_floor_ssim", v, False)):
                    rows.append({"model": model, "method": m, "sample_id": f"s{i}", "status": "ok", "metric": metric,
                                 "value": value + 0.01 * i, "higher_is_better": up})
    rows.append({"model": "bagnet9-synthbirds", "method": "a", "sample_id": "s0", "status": "ok",
                 "metric": "gt_spearman", "value": 0.3, "higher_is_better": True})  # not a seed model
    table = seed_stability(pd.DataFrame(rows), reference={"oracle"})
    assert set(table["metric"]) == {"gt_spearman", "deletion_auc"}
    tau = table.set_index(["metric", "model_a", "model_b"])["tau"]
    for metric in ("gt_spearman", "deletion_auc"):
        assert tau[(metric, SEED_MODELS[0], SEED_MODELS[1])] == 1.0
        assert tau[(metric, SEED_MODELS[0], SEED_MODELS[2])] == -1.0
        assert tau[(metric, SEED_MODELS[1], SEED_MODELS[2])] == -1.0
    assert table["n_methods"].eq(3).all() and len(table) == 6
    lines = seed_stability_lines("synthbirds", table)
    assert "## Ranking stability across model seeds (synthbirds)" in lines
    assert any(line.startswith("| gt_spearman | 3 | 1.000 | -1.000 | -1.000 |") for line in lines)
    # one seed only: nothing to compare, no section
    single = seed_stability(pd.DataFrame(rows[:40]))
    assert single.empty and seed_stability_lines("synthbirds", single) == []


def test_fill_reversals_by_construction() -> None:
    """Image s0: the fill lowers the score by 8; image s1: it raises it by 2 -> share 0.5, median drop 3;
    counted once per image whatever the number of methods; ROAD curves are not counted."""
    from attrbench.leaderboard_tables import fill_reversals

    scores = {("deletion[fill=zero]", "s0"): (10, 5, 2), ("deletion[fill=zero]", "s1"): (1, 2, 3),
              ("insertion", "s0"): (2, 5, 10), ("insertion", "s1"): (3, 2, 1), ("road_morf", "s0"): (1, 2, 3)}
    rows = [{"model": "mo", "method": method, "curve": curve, "sample_id": sid, "step": step, "score": float(v)}
            for method in ("a", "b") for (curve, sid), values in scores.items() for step, v in enumerate(values)]
    table = fill_reversals(pd.DataFrame(rows[::-1])).set_index("curve")  # any row order
    assert set(table.index) == {"deletion[fill=zero]", "insertion"}
    for curve in table.index:
        assert table.loc[curve, ["n_images", "share_fill_not_lower", "median_drop"]].tolist() == [2, 0.5, 3.0]
