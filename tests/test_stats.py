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


def _exploding_normalisation() -> pd.DataFrame:
    """Deletion AUCs of methods a and b on 10 images, built so that the per-image normalisation misleads.

    Images 0-8: f(x) - f(fill) = 10, AUC - f(fill) = 3 (a) and 5 (b): normalised 0.3 and 0.5, a deletes
    faster. Image 9: the fill scores almost like the image (f(x) - f(fill) = 0.01), AUC - f(fill) = 0.5
    (a) and 0.2 (b): normalised 50 and 20. Mean normalised: a 5.27, b 2.45 (b looks better); mean raw
    offset (the ratio-of-means order): a 2.75, b 4.52 (a is better, as on 9 of 10 images).
    """
    rows = []
    for i in range(10):
        denom, f_fill = (10.0, 1.0) if i < 9 else (0.01, 1.0)
        for method, offset in (("a", 3.0 if i < 9 else 0.5), ("b", 5.0 if i < 9 else 0.2)):
            for metric, value in (("deletion_auc[fill=zero]", offset / denom), ("deletion_auc_raw[fill=zero]", f_fill + offset)):
                rows.append({"model": "m", "method": method, "sample_id": f"s{i}", "metric": metric, "value": value,
                             "status": "ok", "higher_is_better": False})
    return pd.DataFrame(rows)


def test_ranked_on_raw_swaps_normalised_aucs_for_their_raw_companions() -> None:
    from attrbench.raw_ranking import ranked_on_raw

    records = _exploding_normalisation()
    extra = pd.DataFrame([{"model": "m", "method": "a", "sample_id": "s0", "metric": "road_morf", "value": 0.25,
                           "status": "ok", "higher_is_better": False}])  # no raw companion: unchanged
    both = pd.concat([records, extra], ignore_index=True)
    both.loc[(both["metric"] == "deletion_auc_raw[fill=zero]") & (both["sample_id"] == "s3"), "status"] = "error"
    out = ranked_on_raw(both)
    assert list(out.columns) == list(both.columns) and len(out) == len(both)
    norm = out[out["metric"] == "deletion_auc[fill=zero]"].set_index(["method", "sample_id"])
    assert norm.loc[("a", "s0"), "value"] == 4.0 and norm.loc[("b", "s9"), "value"] == pytest.approx(1.2)
    assert norm.loc[("a", "s3"), "status"] == "error"  # the companion's status travels with its value
    assert out[out["metric"] == "road_morf"]["value"].tolist() == [0.25]
    assert (out[out["metric"] == "deletion_auc_raw[fill=zero]"]["value"].to_numpy()
            == both[both["metric"] == "deletion_auc_raw[fill=zero]"]["value"].to_numpy()).all()


def test_tests_and_rankings_of_normalised_aucs_use_the_raw_auc() -> None:
    """On the construction, the per-image normalised mean would crown b; the raw AUC (ratio of means) crowns a."""
    from attrbench.leaderboard_tables import meta_evaluation

    records = _exploding_normalisation()
    norm = records[records["metric"] == "deletion_auc[fill=zero]"].groupby("method")["value"].mean()
    assert norm["b"] < norm["a"]  # the misleading order, lower is better
    groups = tied_with_best(records)
    assert groups[("m", "deletion_auc[fill=zero]")] == {"a"}  # b loses on 9 of 10 images: not tied
    truth = [{"model": "m", "method": m, "sample_id": f"s{i}", "metric": "cellgt_spearman", "value": v,
              "status": "ok", "higher_is_better": True} for i in range(10) for m, v in (("a", 0.8), ("b", 0.2))]
    meta = meta_evaluation(pd.concat([records, pd.DataFrame(truth)]), resamples=20).set_index("proxy")
    assert "deletion_auc_raw[fill=zero]" not in meta.index
    assert meta.loc["deletion_auc[fill=zero]", "tau"] == 1.0
