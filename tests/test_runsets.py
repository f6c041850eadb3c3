"""Several runs are never pooled; n is shown; intervals of bounded metrics stay in range."""

from __future__ import annotations

import math

import numpy as np

from attrbench.export import load_records, run_ranges, summarise, to_markdown
from attrbench.report import load_tables
from attrbench.results import summarise as summarise_records
from attrbench.runsets import declared_ranges, keep_runs_apart, run_labels
from attrbench.stats import ValueRange
from attrbench.testing.runs import write_run


def test_exporting_two_runs_never_pools_them(tmp_path) -> None:
    # the same model, method and metric in both runs, different values
    r1 = write_run(tmp_path / "r1", values={"ig": {"m": [0.1, 0.2, 0.3]}}, directions={"m": True}, run_id="seed0")
    r2 = write_run(tmp_path / "r2", values={"ig": {"m": [0.7, 0.8, 0.9, 1.0]}}, directions={"m": True},
                   run_id="seed1")  # fmt: skip
    s = summarise(load_records([r1, r2]))
    assert len(s) == 2 and sorted(s["n"]) == [3, 4]  # two rows, never one row of n = 7
    by_model = dict(zip(s["model"], s["mean"]))
    assert math.isclose(by_model["tiny-bagnet9 [seed0]"], 0.2) and math.isclose(by_model["tiny-bagnet9 [seed1]"], 0.85)
    md = to_markdown(s)
    assert md.splitlines()[0] == "| model | method | n | m ↑ |"
    assert "| tiny-bagnet9 [seed0] | ig | 3 |" in md and "| tiny-bagnet9 [seed1] | ig | 4 |" in md
    # the report's tables keep them apart too (records and curves)
    tables = load_tables([r1, r2])
    assert set(tables.records["model"]) == {"tiny-bagnet9 [seed0]", "tiny-bagnet9 [seed1]"}


def test_disjoint_runs_are_combined_as_they_are(tmp_path) -> None:
    r1 = write_run(tmp_path / "r1", values={"ig": {"m": [0.1, 0.2]}}, directions={"m": True}, run_id="a")
    r2 = write_run(tmp_path / "r2", values={"saliency": {"m": [0.5, 0.6]}}, directions={"m": True}, run_id="b")
    s = summarise(load_records([r1, r2]))
    assert set(s["model"]) == {"tiny-bagnet9"} and set(s["method"]) == {"ig", "saliency"}


def test_run_labels_are_unique() -> None:
    assert run_labels(["a", "b"], ["x", "y"]) == ["a", "b"]
    assert run_labels(["a", "a"], ["x", "y"]) == ["a@x", "a@y"]
    frames, _ = keep_runs_apart([], [])
    assert frames == []


def test_bounded_intervals_stay_in_range() -> None:
    import pandas as pd

    # n = 2 values near 1 of a metric declared in [0, 1]: the plain t-interval exceeds 1
    values = [0.95, 1.0]
    records = pd.DataFrame({"model": "m", "method": "ig", "metric": "loc_auroc", "value": values, "status": "ok",
                            "higher_is_better": True, "category": "localisation"})  # fmt: skip
    plain = summarise_records(records, ci="t").iloc[0]  # explicit since the default became "range"
    assert plain["ci_high"] > 1.0
    ranges = {"loc_auroc": ValueRange(low=0.0, high=1.0)}
    for ci in ("t", "range", "bootstrap"):
        row = summarise_records(records, ranges=ranges, ci=ci).iloc[0]
        assert 0.0 <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= 1.0, ci
    # a spec-suffixed or layer-suffixed name finds its prefix's range
    suffixed = records.assign(metric="loc_auroc[fill=blur]")
    assert summarise_records(suffixed, ranges=ranges).iloc[0]["ci_high"] <= 1.0


def test_declared_ranges_come_from_the_run_configs(tmp_path) -> None:
    cfg = {"metric_info": {"localisation": {"ranges": {"loc_auroc": {"low": 0.0, "high": 1.0, "kind": "continuous"},
                                                       "loc_x": {"low": None, "high": None, "kind": "continuous"}}}}}
    assert declared_ranges([cfg]) == {"loc_auroc": ValueRange(low=0.0, high=1.0)}
    r1 = write_run(tmp_path / "r1", values={"ig": {"m": [0.1]}}, directions={"m": True})
    assert run_ranges([r1]) == {}  # a run without metric_info declares no range
    assert np.isfinite(summarise(load_records([r1]))["mean"]).all()
