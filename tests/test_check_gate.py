"""Issue 12, cases 2, 3 and 10 in the gate: lost samples fail, a run of another config is refused,
a pass reads as a pass, and no file names code that check / report --gallery would import."""

from __future__ import annotations

import json

import pytest

from attrbench.check import compare, format_diff, make_baseline, save_baseline
from attrbench.cli import main as cli_main
from attrbench.export import load_records
from attrbench.runner import RunConfig, run
from attrbench.testing import toys
from attrbench.testing.runs import write_run

DIRECTIONS = {"gt_spearman": True, "runtime_s": False}
CATEGORIES = {"gt_spearman": "ground_truth", "runtime_s": "cost"}
VALUES = {"ig": {"gt_spearman": [0.6] * 12, "runtime_s": [0.1] * 12}}
CONFIG = {"model": "tiny", "dataset": "toy", "n_samples": 12, "seed": 3, "split": "test", "metrics": ["gt", "runtime"]}


def _run(path, *, failed=None, config=None):
    return write_run(path, values=VALUES, directions=DIRECTIONS, categories=CATEGORIES, failed=failed,
                     config={**CONFIG, **(config or {})})  # fmt: skip


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("attrbench: error: ")
    return err[0]


def test_nan_on_half_the_samples_fails_the_gate(tmp_path) -> None:
    """Case 2: the same mean on 6 of 12 samples is not a pass."""
    baseline = make_baseline([_run(tmp_path / "base")])
    half = load_records([_run(tmp_path / "half", failed={("ig", "gt_spearman"): range(6)})])
    result = compare(baseline, half)
    row = result.table.set_index("metric").loc["gt_spearman"]
    assert (row["n_old"], row["n_new"], row["verdict"]) == (12, 6, "LOST SAMPLES") and result.failed
    assert "check FAILED: 1 LOST SAMPLES" in format_diff(result)
    assert not compare(baseline, half, max_lost_samples=6).failed  # the documented threshold


def test_a_passing_check_reads_as_a_pass(tmp_path, capsys) -> None:
    base = _run(tmp_path / "base")
    bfile = save_baseline(make_baseline([base]), tmp_path / "b.json")
    assert cli_main(["check", "--baseline", str(bfile), "--run", str(base)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "check passed: 1 ok, 1 info"
    assert "regression" not in out.lower()


@pytest.mark.parametrize(("key", "value"), [("seed", 4), ("split", "train"), ("n_samples", 10)])
def test_check_run_refuses_a_run_of_another_config(tmp_path, capsys, key, value) -> None:
    """Case 3: another split, seed or sample count is named, not compared."""
    bfile = save_baseline(make_baseline([_run(tmp_path / "base")]), tmp_path / "b.json")
    other = _run(tmp_path / "other", config={key: value})
    assert cli_main(["check", "--baseline", str(bfile), "--run", str(other)]) == 2
    line = _error_line(capsys)
    assert "another config than the baseline" in line and f"{key}: baseline" in line and json.dumps(value) in line


def test_config_differences_compare_resolved_post_processing() -> None:
    from attrbench.check import config_differences

    same = {"postprocess": "raw", "postprocess_config": {"relu": False}}
    assert config_differences(same, {**same, "postprocess": "captum", "data_root": "/elsewhere"}) == []
    differ = config_differences(same, {**same, "postprocess_config": {"relu": True}})
    assert differ == ['postprocess_config: baseline {"relu": false}, run {"relu": true}']


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toyrun") / "run"
    run(RunConfig(methods=["saliency"], model=toys.MODEL, dataset=toys.DATASET, metrics=["gt"], n_samples=2,
                  out=str(out), device="cpu", progress=False))  # fmt: skip
    return out


def test_check_never_imports_code_named_by_the_baseline(toy_run, tmp_path, capsys) -> None:
    """Case 10: the baseline's model and dataset are module:attr; check imports them only when passed."""
    bfile = tmp_path / "b.json"
    assert cli_main(["baseline", str(toy_run), "--out", str(bfile)]) == 0
    capsys.readouterr()
    rc = cli_main(["check", "--baseline", str(bfile), "--method", "saliency", "--out", str(tmp_path / "a")])
    line = _error_line(capsys)
    assert rc == 2 and "$.config.model names code to import" in line and toys.MODEL in line
    assert not (tmp_path / "a").exists()
    rc = cli_main(["check", "--baseline", str(bfile), "--method", "saliency", "--out", str(tmp_path / "b"),
                   "--model", toys.MODEL, "--dataset", toys.DATASET, "--device", "cpu"])  # fmt: skip
    assert rc == 0, capsys.readouterr()


def test_report_gallery_never_imports_code_named_by_the_run(toy_run, tmp_path, capsys) -> None:
    rc = cli_main(["report", str(toy_run), "--out", str(tmp_path / "fig"), "--format", "png", "--gallery", "1"])
    line = _error_line(capsys)
    assert rc == 2 and "config.json" in line and "names code to import" in line
    assert not (tmp_path / "fig" / "gallery.png").exists()
