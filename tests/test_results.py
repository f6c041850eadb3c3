"""Results store: summary CIs, load_run, atomic writes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from attrbench.errors import DataError
from attrbench.results import RECORD_COLUMNS, RunDir, atomic_write_text, load_run, summarise
from attrbench.stats import bootstrap_ci, t_ci


def _records(values, status=None, method="m", metric="x") -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({
        "run_id": ["r"] * n, "dataset": ["d"] * n, "model": ["mo"] * n, "method": [method] * n,
        "metric": [metric] * n, "sample_id": [f"s{i}" for i in range(n)], "value": values,
        "status": status or ["ok"] * n, "error": [""] * n, "higher_is_better": [True] * n, "category": ["c"] * n,
    })  # fmt: skip


def test_t_interval_matches_scipy_and_skips_failed() -> None:
    values = [0.1, 0.4, 0.35, 0.8, float("nan")]
    status = ["ok", "ok", "ok", "ok", "failed"]
    s = summarise(_records(values, status), ci="t")  # the estimator is chosen explicitly since the default became "range"
    row = s.iloc[0]
    assert row["ci_method"] == "t"
    x = np.array(values[:4])
    lo, hi = stats.t.interval(0.95, df=3, loc=x.mean(), scale=stats.sem(x))
    assert row["n"] == 4 and math.isclose(row["mean"], x.mean(), abs_tol=1e-15)
    assert math.isclose(row["ci_low"], lo, abs_tol=1e-12) and math.isclose(row["ci_high"], hi, abs_tol=1e-12)
    assert bool(row["higher_is_better"]) is True
    assert math.isnan(t_ci(np.array([1.0]))[1])
    m, blo, bhi = bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    assert m == 2.5 and 1.0 <= blo < 2.5 < bhi <= 4.0
    assert bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0])) == (m, blo, bhi)  # seeded


def test_default_intervals_respect_the_declared_range() -> None:
    """Default ``ci="range"``: Wilson for binary values, seeded bootstrap inside the range otherwise."""
    from attrbench.stats import ValueRange, wilson_ci

    hits = [1.0] * 9 + [0.0]
    s = summarise(_records(hits, metric="loc_pointing_game"), ranges={"loc_pointing_game": ValueRange(0.0, 1.0, "binary")})
    row = s.iloc[0]
    assert row["ci_method"] == "wilson"
    _, lo, hi = wilson_ci(successes=9, n=10)
    assert (row["ci_low"], row["ci_high"]) == (lo, hi) and hi < 1.0  # a t-interval would pass 1 (0.9 + 0.23)
    near_one = [1.0, 1.0, 1.0, 0.2]
    s = summarise(_records(near_one, metric="gt_spearman@x"), ranges={"gt_spearman": ValueRange(-1.0, 1.0)})
    row = s.iloc[0]
    assert row["ci_method"] == "bootstrap" and row["ci_high"] <= 1.0
    assert (row["ci_low"], row["ci_high"]) == bootstrap_ci(np.array(near_one))[1:]  # seeded, already inside [-1, 1]
    assert t_ci(np.array(near_one))[2] > 1.0  # the old estimator left the range
    assert summarise(_records(near_one)).iloc[0]["ci_method"] == "bootstrap"  # undeclared: unbounded bootstrap


def test_run_dir_roundtrip_and_errors(tmp_path) -> None:
    run = RunDir(tmp_path / "run")
    run.write_config({"run_id": "run", "seed": 0})
    rec = _records([0.5, 0.25])
    empty_curves = pd.DataFrame({c: [] for c in ["run_id", "dataset", "model", "method", "curve", "sample_id", "step", "fraction", "score"]})
    empty_curves = empty_curves.astype({"step": "int64", "fraction": "float64", "score": "float64"})
    with pytest.raises(DataError, match="unfinished run"):
        run.write_unit(0, 1, rec.iloc[1:], empty_curves)
        load_run(run.path)
    run.write_unit(0, 0, rec.iloc[:1], empty_curves)
    assert run.unit_done(0, 0) and run.unit_done(0, 1) and not run.unit_done(1, 0)
    run.merge()
    data = load_run(run.path)
    assert list(data.records.columns) == list(RECORD_COLUMNS)
    assert data.records["sample_id"].tolist() == ["s0", "s1"]  # merged in (batch, method) order
    assert data.run_id == "run"
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(DataError, match="run directory not found"):
        load_run(tmp_path / "nope")


def test_atomic_write_replaces_whole_file(tmp_path) -> None:
    path = tmp_path / "f.txt"
    atomic_write_text(path, "a" * 1000)
    atomic_write_text(path, "b")
    assert path.read_text() == "b"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
