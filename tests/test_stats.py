"""Range-aware intervals, Holm correction and tied-with-best groups on hand-built cases."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from attrbench.stats import ValueRange, holm, interval, mean_ci, paired_wilcoxon, t_ci, tied_with_best, wilson_ci


@pytest.mark.parametrize(("k", "n"), [(30, 32), (0, 10), (10, 10), (7, 20)])
def test_wilson_matches_closed_form_and_inverts_the_score_test(k: int, n: int) -> None:
    z = NormalDist().inv_cdf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    mean, lo, hi = wilson_ci(successes=k, n=n)
    assert mean == p
    assert lo == pytest.approx(max(0.0, centre - half), abs=1e-12)
    assert hi == pytest.approx(min(1.0, centre + half), abs=1e-12)
    # each finite bound p0 solves the score test at the edge: |p - p0| = z sqrt(p0 (1 - p0) / n)
    for p0 in (lo, hi):
        if 1e-12 < p0 < 1 - 1e-12:  # bounds at 0 or 1 (k = 0 or k = n) are exact ends
            assert abs(p - p0) == pytest.approx(z * math.sqrt(p0 * (1 - p0) / n), abs=1e-12)


def test_interval_respects_the_declared_range() -> None:
    hits = np.array([1.0] * 30 + [0.0] * 2)  # a pointing game of 30 / 32
    _, t_lo, t_hi = t_ci(hits)
    assert t_hi > 1.0  # the t-interval leaves [0, 1] ...
    binary = ValueRange(low=0.0, high=1.0, kind="binary")
    assert interval(hits, value_range=binary) == wilson_ci(successes=30, n=32)  # ... Wilson does not
    assert mean_ci(hits, value_range=binary)[2] == 1.0  # the t-interval clipped to the range
    with pytest.raises(ValueError, match="binary"):
        interval(np.array([0.5, 1.0]), value_range=binary)
    bounded = np.array([0.99, 1.0, 0.98, 1.0, 0.97, 1.0])
    mean, lo, hi = interval(bounded, value_range=ValueRange(low=0.0, high=1.0))
    assert bounded.min() <= lo <= mean <= hi <= bounded.max()
    assert interval(bounded) == interval(bounded)  # seeded


def test_holm_on_known_p_values() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4 x 0.005, 3 x 0.01, 2 x 0.03, 1 x 0.04 = 0.02, 0.03, 0.06, 0.04,
    # then the running maximum 0.02, 0.03, 0.06, 0.06, returned in the input order
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], rtol=0, atol=1e-15)
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0], rtol=0, atol=1e-15)  # 2 x 0.5 capped at 1, then monotone
    assert holm([]).size == 0


def _records(values: dict[str, np.ndarray], *, higher_is_better: bool) -> pd.DataFrame:
    rows = [
        {"model": "m", "method": method, "metric": "score", "sample_id": f"s{i}", "value": float(v),
         "status": "ok", "higher_is_better": higher_is_better}
        for method, vals in values.items() for i, v in enumerate(vals)
    ]
    return pd.DataFrame(rows)


def test_two_tied_methods_and_one_clearly_worse() -> None:
    n = 30
    base = np.linspace(0.2, 0.8, n)
    wiggle = (-1.0) ** np.arange(n) * (np.arange(n) + 1) * 1e-3  # paired differences of both signs
    values = {
        "a": base + wiggle,
        "b": base - wiggle,  # same mean as a; the signed ranks balance -> not significant
        "c": base - 0.2 + 1e-3 * np.arange(n),  # below a on every sample -> significant
        "oracle": base + 0.5,  # a reference row: best by construction, never marked
    }
    assert paired_wilcoxon(values["a"], values["b"]) > 0.5
    assert paired_wilcoxon(values["a"], values["c"]) < 1e-5
    groups = tied_with_best(_records(values, higher_is_better=True), reference={"oracle"})
    assert groups == {("m", "score"): frozenset({"a", "b"})}
    # lower is better: c is now the best and both others are clearly worse
    low = tied_with_best(_records(values, higher_is_better=False), reference={"oracle"})
    assert low == {("m", "score"): frozenset({"c"})}
    # with the reference row compared, it alone is the best
    assert tied_with_best(_records(values, higher_is_better=True)) == {("m", "score"): frozenset({"oracle"})}


def test_identical_methods_are_tied_and_alpha_is_checked() -> None:
    x = np.linspace(0, 1, 10)
    assert paired_wilcoxon(x, x) == 1.0
    assert tied_with_best(_records({"a": x, "b": x}, higher_is_better=True))[("m", "score")] == {"a", "b"}
    with pytest.raises(ValueError, match="alpha"):
        tied_with_best(_records({"a": x}, higher_is_better=True), alpha=1.5)


def test_metrics_declare_ranges_for_the_interval_choice() -> None:
    from attrbench.metrics.deletion import Deletion
    from attrbench.metrics.random_logit import RandomLogit
    from attrbench.metrics.road import Road

    assert RandomLogit().value_range("random_logit_ssim") == ValueRange(low=-1.0, high=1.0)
    assert Road().value_range("road_morf") == ValueRange(low=0.0, high=1.0)  # probabilities
    assert Road(score="logit").value_range("road_morf") == ValueRange()  # logits: unbounded
    assert Deletion().value_range("deletion_auc") == ValueRange()  # undeclared: unbounded, continuous
    assert RandomLogit().describe()["ranges"]["random_logit_spearman"] == {"low": -1.0, "high": 1.0, "kind": "continuous"}
    assert Deletion().describe()["ranges"]["deletion_auc"] == {"low": None, "high": None, "kind": "continuous"}
    with pytest.raises(KeyError, match="declares no output"):
        Deletion().value_range("nope")
