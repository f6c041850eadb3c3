"""Baseline files: every schema violation is one line naming the file and the JSON path; no code in files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from attrbench.baseline_schema import BaselineError, code_references, refuse_code_references, validate_baseline
from attrbench.check import load_baseline, make_baseline, save_baseline
from attrbench.errors import DataError
from attrbench.testing.runs import write_run

DIRECTIONS = {"gt_spearman": True, "deletion_auc": False, "runtime_s": False}
CATEGORIES = {"gt_spearman": "ground_truth", "deletion_auc": "faithfulness", "runtime_s": "cost"}
VALUES = {"ig": {"gt_spearman": [0.5, 0.7], "deletion_auc": [1.0, 1.2], "runtime_s": [0.1, 0.1]}}
CONFIG = {"model": "tiny", "dataset": "toy", "n_samples": 2, "seed": 3, "metrics": ["gt", "deletion", "runtime"]}


@pytest.fixture
def good(tmp_path: Path) -> dict:
    run = write_run(tmp_path / "run", values=VALUES, directions=DIRECTIONS, categories=CATEGORIES, config=CONFIG)
    return make_baseline([run])


def _load(tmp_path: Path, data: object, *, raw: str | None = None) -> dict:
    path = tmp_path / "b.json"
    path.write_text(raw if raw is not None else json.dumps(data))
    return load_baseline(path)


def test_written_baselines_validate(good: dict, tmp_path: Path) -> None:
    path = save_baseline(good, tmp_path / "ok.json")
    assert load_baseline(path)["entries"] == good["entries"]


BAD = [  # (JSON path set, value, expected message after "<file>: ")
    ("entries[0].higher_is_better", "false", r"\$\.entries\[0\]\.higher_is_better: expected true or false"),
    ("entries[0].mean", None, r"\$\.entries\[0\]\.mean: expected a finite number, got None"),
    ("entries[0].mean", True, r"\$\.entries\[0\]\.mean: expected a finite number, got True"),
    ("entries[0].tolerance", -0.1, r"\$\.entries\[0\]\.tolerance: must be >= 0"),
    ("entries[0].ci_low", "0.1", r"\$\.entries\[0\]\.ci_low: expected a finite number or null"),
    ("entries[0].n", 2.5, r"\$\.entries\[0\]\.n: expected an integer >= 0"),
    ("entries[0].gated", 1, r"\$\.entries\[0\]\.gated: expected true or false"),
    ("entries[0].metric", "gt_spearmann", r"\$\.entries\[0\]\.metric: unknown metric 'gt_spearmann'"),
    ("entries[0].method", "", r"\$\.entries\[0\]\.method: expected a non-empty string"),
    ("entries[0].category", "cost", r"\$\.entries\[0\]\.category: .* has category"),
    ("entries", [], r"\$\.entries: expected a non-empty list"),
    ("entries[0]", "x", r"\$\.entries\[0\]: expected an object"),
    ("config", [], r"\$\.config: expected an object, got list"),
    ("config", "tiny", r"\$\.config: expected an object, got str"),
    ("config.n_samples", 0, r"\$\.config\.n_samples: expected an integer >= 1"),
    ("config.seed", "3", r"\$\.config\.seed: expected an integer"),
    ("config.metrics", "gt", r"\$\.config\.metrics: expected a list of metric names"),
    ("config.modle", "tiny", r"\$\.config\.modle: unknown key"),
    ("format", "attrbench-baseline/0", r"\$\.format: not an attrbench baseline"),
]


def _set(data: dict, dotted: str, value: object) -> None:
    keys = [int(k) if k.isdigit() else k for k in dotted.replace("[", ".").replace("]", "").split(".")]
    target = data
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


@pytest.mark.parametrize(("where", "value", "message"), BAD, ids=[f"{w}={v!r}" for w, v, _ in BAD])
def test_each_violation_is_one_line_naming_file_and_json_path(good: dict, tmp_path: Path, where, value, message) -> None:
    data = copy.deepcopy(good)
    _set(data, where, value)
    with pytest.raises(BaselineError, match=r"b\.json: " + message) as info:
        _load(tmp_path, data)
    assert "\n" not in str(info.value) and isinstance(info.value, DataError)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_tolerance_refused(good: dict, tmp_path: Path, literal: str) -> None:
    """Case 9: a NaN tolerance made every row pass."""
    text = json.dumps(good).replace(f'"tolerance": {good["entries"][0]["tolerance"]}', f'"tolerance": {literal}', 1)
    assert literal in text
    with pytest.raises(BaselineError, match=r"\$\.entries\[0\]\.tolerance: expected a finite number"):
        _load(tmp_path, None, raw=text)


def test_direction_must_agree_with_the_metric(good: dict, tmp_path: Path) -> None:
    data = copy.deepcopy(good)
    i = next(i for i, e in enumerate(data["entries"]) if e["metric"] == "deletion_auc")
    data["entries"][i]["higher_is_better"] = True
    with pytest.raises(BaselineError, match=rf"\$\.entries\[{i}\]\.higher_is_better: deletion_auc is lower is better"):
        _load(tmp_path, data)


def test_duplicate_entry_and_top_level_shape(good: dict, tmp_path: Path) -> None:
    data = copy.deepcopy(good)
    data["entries"].append(dict(data["entries"][0]))
    last = len(data["entries"]) - 1
    with pytest.raises(BaselineError, match=rf"\$\.entries\[{last}\]: repeats \$\.entries\[0\]"):
        _load(tmp_path, data)
    with pytest.raises(BaselineError, match=r"b\.json: \$: expected an object, got list"):
        validate_baseline([], path=tmp_path / "b.json")


def test_code_references_are_refused_unless_given_on_the_command_line(good: dict, tmp_path: Path) -> None:
    data = copy.deepcopy(good)
    data["config"]["model"] = "evil.payload:run"
    data["config"]["metrics"] = ["gt", "evil.metrics:Spy[x=1]"]
    assert list(code_references(data["config"], where="$.config")) == [
        ("$.config.model", "evil.payload:run"), ("$.config.metrics[1]", "evil.metrics:Spy")]
    with pytest.raises(DataError, match=r"b\.json: \$\.config\.model names code to import \('evil\.payload:run'\)"):
        refuse_code_references(data["config"], path=tmp_path / "b.json", where="$.config")
    with pytest.raises(DataError, match=r"\$\.config\.metrics\[1\] names code"):
        refuse_code_references(data["config"], path="b.json", allowed=["evil.payload:run"], where="$.config")
    refuse_code_references(data["config"], path="b.json", where="$.config",
                           allowed=["evil.payload:run", "x=evil.metrics:Spy[y=2]"])
    builtin = {"method_config": {"ig": {"class": "attrbench.methods.ig:IntegratedGradients"}}, "url": "https://x/y"}
    refuse_code_references(builtin, path="config.json")
