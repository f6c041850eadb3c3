"""The CI gate: baseline files, direction-aware comparison with a statistical tolerance, CLI exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attrbench.check import compare, format_diff, load_baseline, make_baseline, parse_method_arg, save_baseline
from attrbench.cli import main as cli_main
from attrbench.export import load_records
from attrbench.stats import mean_ci
from attrbench.testing import toys as toy
from attrbench.testing.runs import write_run

DIRECTIONS = {"gt_spearman": True, "deletion_auc": False, "runtime_s": False}
CATEGORIES = {"gt_spearman": "ground_truth", "deletion_auc": "faithfulness", "runtime_s": "cost"}
BASE = {
    "ig": {"gt_spearman": [0.5, 0.6, 0.7, 0.6], "deletion_auc": [1.0, 1.0, 1.0, 1.0], "runtime_s": [0.1] * 4},
    "saliency": {"gt_spearman": [0.3, 0.3, 0.3, 0.3], "deletion_auc": [2.0, 2.2, 1.8, 2.0], "runtime_s": [0.1] * 4},
}
CONFIG = {"model": "tiny", "dataset": "toy", "n_samples": 4, "seed": 3, "metrics": ["gt", "deletion", "runtime"]}


def _run(path, values, **kw):
    return write_run(path, values=values, directions=DIRECTIONS, categories=CATEGORIES, config=CONFIG, **kw)


@pytest.fixture()
def baseline(tmp_path):
    return make_baseline([_run(tmp_path / "base", BASE)])


def _entry(baseline, method, metric):
    return next(e for e in baseline["entries"] if e["method"] == method and e["metric"] == metric)


def test_baseline_stores_stats_tolerance_and_config(baseline, tmp_path) -> None:
    e = _entry(baseline, "ig", "gt_spearman")
    mean, lo, hi = mean_ci(np.array([0.5, 0.6, 0.7, 0.6]), method="range")  # summarise default changed from "t"
    assert (e["mean"], e["ci_low"], e["ci_high"], e["n"]) == (pytest.approx(0.6), lo, hi, 4)
    assert e["tolerance"] == pytest.approx(max((hi - lo) / 2, 0.01))
    assert e["tolerance"] > 0.01  # here the CI half-width dominates the margin
    # constant values: zero CI width, the absolute margin is the tolerance
    assert _entry(baseline, "saliency", "gt_spearman")["tolerance"] == pytest.approx(0.01)
    assert not _entry(baseline, "ig", "runtime_s")["gated"]
    cfg = baseline["config"]
    assert (cfg["model"], cfg["dataset"], cfg["n_samples"], cfg["seed"]) == ("tiny", "toy", 4, 3)
    assert cfg["metrics"] == ["deletion", "gt", "runtime"]
    path = save_baseline(baseline, tmp_path / "b.json")
    assert load_baseline(path) == json.loads(json.dumps(baseline))


def test_unchanged_results_pass(baseline, tmp_path) -> None:
    result = compare(baseline, load_records([_run(tmp_path / "same", BASE)]))
    assert not result.failed
    assert set(result.table["verdict"]) == {"ok", "info"}
    assert (result.table["delta"].abs() < 1e-12).all()


def test_regressions_are_direction_aware(baseline, tmp_path) -> None:
    worse = {
        # gt_spearman drops by 0.3 (higher is better): regression
        "ig": {"gt_spearman": [0.2, 0.3, 0.4, 0.3], "deletion_auc": [1.0, 1.0, 1.0, 1.0], "runtime_s": [9.0] * 4},
        # deletion_auc *rises* by 0.5 (lower is better): regression; gt_spearman rises: improved
        "saliency": {"gt_spearman": [0.5, 0.5, 0.5, 0.5], "deletion_auc": [2.5, 2.7, 2.3, 2.5], "runtime_s": [0.1] * 4},
    }
    result = compare(baseline, load_records([_run(tmp_path / "worse", worse)]))
    assert result.failed
    v = result.table.set_index(["method", "metric"])["verdict"]
    assert v[("ig", "gt_spearman")] == "REGRESSION"
    assert v[("saliency", "deletion_auc")] == "REGRESSION"
    assert v[("saliency", "gt_spearman")] == "improved"
    assert v[("ig", "deletion_auc")] == "ok"
    assert v[("ig", "runtime_s")] == "info"  # 90x slower, but cost never gates
    text = format_diff(result)
    line = next(li for li in text.splitlines() if li.startswith("ig") and "gt_spearman" in li)
    assert "0.6000" in line and "0.3000" in line and "-0.3000" in line and "REGRESSION" in line
    assert "check FAILED: 2 REGRESSION" in text


def test_drop_within_tolerance_passes(baseline, tmp_path) -> None:
    tol = _entry(baseline, "ig", "gt_spearman")["tolerance"]
    shifted = {"ig": {k: [x - (0.9 * tol if k == "gt_spearman" else 0.0) for x in v] for k, v in BASE["ig"].items()}}
    result = compare(baseline, load_records([_run(tmp_path / "near", shifted)]))
    assert not result.failed


def test_missing_metric_fails_and_unknown_method_is_an_error(baseline, tmp_path) -> None:
    partial = {"ig": {"gt_spearman": BASE["ig"]["gt_spearman"], "runtime_s": [0.1] * 4}}
    result = compare(baseline, load_records([_run(tmp_path / "partial", partial)]))
    assert result.failed
    assert result.table.set_index("metric").loc["deletion_auc", "verdict"] == "missing"
    with pytest.raises(ValueError, match="not in the baseline"):
        compare(baseline, load_records([_run(tmp_path / "other", {"gradcam": BASE["ig"]})]))


def test_baseline_refuses_runs_with_different_configurations(tmp_path) -> None:
    r1 = _run(tmp_path / "r1", {"ig": BASE["ig"]})
    r2 = write_run(tmp_path / "r2", values={"saliency": BASE["saliency"]}, directions=DIRECTIONS,
                   categories=CATEGORIES, config={**CONFIG, "seed": 4})
    with pytest.raises(ValueError, match="seed"):
        make_baseline([r1, r2])


def test_parse_method_arg() -> None:
    assert parse_method_arg("ig") == ("ig", "ig")
    assert parse_method_arg("ig=pkg.mod:NoisyIG") == ("ig", "pkg.mod:NoisyIG")
    with pytest.raises(ValueError):
        parse_method_arg("=pkg.mod:X")


def test_bad_baseline_files(tmp_path) -> None:
    with pytest.raises(ValueError, match="not found"):
        load_baseline(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_baseline(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not an attrbench baseline"):
        load_baseline(tmp_path / "y.json")


def test_cli_baseline_and_check_exit_codes(tmp_path, capsys) -> None:
    base_run = _run(tmp_path / "base", BASE)
    bfile = tmp_path / "baseline.json"
    assert cli_main(["baseline", str(base_run), "--out", str(bfile), "--margin", "deletion_auc=0.05"]) == 0
    assert _entry(load_baseline(bfile), "saliency", "deletion_auc")["tolerance"] == pytest.approx(
        max(0.05, (mean_ci(np.array([2.0, 2.2, 1.8, 2.0]), method="range")[2] - mean_ci(np.array([2.0, 2.2, 1.8, 2.0]), method="range")[1]) / 2))
    capsys.readouterr()
    assert cli_main(["check", "--baseline", str(bfile), "--run", str(base_run)]) == 0
    assert "check passed" in capsys.readouterr().out
    worse = {"ig": {**BASE["ig"], "gt_spearman": [0.0, 0.1, 0.2, 0.1]}}
    diff = tmp_path / "diff.csv"
    assert cli_main(["check", "--baseline", str(bfile), "--run", str(_run(tmp_path / "w", worse)),
                     "--diff-out", str(diff)]) == 1
    out = capsys.readouterr().out
    assert "gt_spearman" in out and "REGRESSION" in out and "0.1000" in out
    assert "REGRESSION" in diff.read_text()
    assert cli_main(["check", "--baseline", str(tmp_path / "nope.json"), "--run", str(base_run)]) == 2
    assert cli_main(["baseline", str(base_run), "--out", str(bfile), "--margin", "oops"]) == 2


# --------------------------------------------------------------------------------------------
# End to end: a deliberately degraded copy of Integrated Gradients, given as module:Class, fails
# the gate against a baseline of the real one; the unchanged method passes. Tiny model and data.
# --------------------------------------------------------------------------------------------
TOY_MODULE = '''
import torch
from attrbench.methods.ig import IntegratedGradients


class NoisyIG(IntegratedGradients):
    """IG plus strong seeded noise (10x the map's own scale): a broken 'improvement'."""

    def attribute(self, inputs, *, target):
        a = super().attribute(inputs, target=target)
        gen = torch.Generator().manual_seed(0)
        noise = torch.randn(a.shape, generator=gen, dtype=a.dtype).to(a.device)
        return a + 10 * a.abs().amax(dim=(1, 2, 3), keepdim=True) * noise
'''


def test_degraded_method_fails_the_gate_and_the_unchanged_one_passes(tmp_path, monkeypatch, capsys) -> None:
    from attrbench.runner import RunConfig, run

    (tmp_path / "toy_check_mod.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    base = tmp_path / "base"
    run(RunConfig(methods=["ig"], model=toy.MODEL, dataset=toy.DATASET, metrics=["gt"], n_samples=6, batch_size=6, seed=0, out=str(base), device="cpu", progress=False))
    bfile = tmp_path / "baseline.json"
    assert cli_main(["baseline", str(base), "--out", str(bfile)]) == 0
    cfg = load_baseline(bfile)["config"]
    assert (cfg["model"], cfg["dataset"], cfg["n_samples"], cfg["metrics"]) == (
        toy.MODEL, toy.DATASET, 6, ["gt"])
    capsys.readouterr()

    trusted = ["--model", toy.MODEL, "--dataset", toy.DATASET]  # a baseline never names code by itself (issue 12)
    code = cli_main(["check", "--baseline", str(bfile), "--method", "ig=toy_check_mod:NoisyIG", "--device", "cpu", *trusted,
                     "--out", str(tmp_path / "noisy")])
    out = capsys.readouterr().out
    assert code == 1, out
    old = _entry(load_baseline(bfile), "ig", "gt_spearman")["mean"]
    line = next(li for li in out.splitlines() if li.startswith("ig") and "gt_spearman" in li)
    assert f"{old:.4f}" in line and "REGRESSION" in line
    assert "check FAILED" in out

    code = cli_main(["check", "--baseline", str(bfile), "--method", "ig", "--device", "cpu", *trusted])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "REGRESSION" not in out and "check passed" in out


def test_single_sample_baseline_is_strict_json(tmp_path) -> None:
    b = make_baseline([_run(tmp_path / "one", {"ig": {"gt_spearman": [0.5]}})])
    e = _entry(b, "ig", "gt_spearman")
    assert (e["ci_low"], e["ci_high"], e["tolerance"]) == (None, None, 0.01)  # no CI: the margin alone
    text = save_baseline(b, tmp_path / "one.json").read_text()
    assert "NaN" not in text and json.loads(text)["entries"][0]["ci_low"] is None
