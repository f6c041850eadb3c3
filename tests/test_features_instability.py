"""Location instability on toys with known positions (closed form) and its baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attrbench.errors import DataError
from attrbench.features.geometry import LayerGeometry
from attrbench.features.location_instability import (
    LayerPatterns,
    instability,
    instability_with_ci,
    landmark_indices,
    pattern_instability,
    random_positions,
    subset,
    raw_peaks,
    verdict,
)
from attrbench.features.graph_study import comparison_tables
from attrbench.stats import bootstrap_statistic, half_sample_statistics


def _landmarks(xy: list[tuple[float, float, float]]) -> torch.Tensor:
    return torch.tensor(xy, dtype=torch.float64)[:, None, :]  # (N, 1, 3)


def test_instability_closed_form_3_4_5() -> None:
    # image 30 x 40 (diagonal 50); landmark at x=0, y=0; pattern at distances 30, 40, 50 (rows 30,
    # cols 40 / ...) -> distances / 50 = 0.6, 0.8, 1.0 -> sample std 0.2.
    pos = torch.tensor([[[30.0, 0.0], [0.0, 40.0], [30.0, 40.0]]], dtype=torch.float64)
    lm = _landmarks([(0, 0, 1)] * 3)
    value = pattern_instability(pos, torch.ones(1, 3), lm, image_size=(30, 40))
    torch.testing.assert_close(value, torch.tensor([0.2], dtype=torch.float64), rtol=0, atol=1e-12)


def test_a_pattern_that_moves_with_the_landmark_has_zero_instability() -> None:
    gen = torch.Generator().manual_seed(0)
    lm_xy = torch.rand(10, 2, generator=gen, dtype=torch.float64) * 50
    lm = torch.cat([lm_xy, torch.ones(10, 1, dtype=torch.float64)], 1)[:, None]
    pos = torch.stack([lm_xy[:, 1] + 3.0, lm_xy[:, 0] - 4.0], 1)[None]  # always 5 px away
    assert float(pattern_instability(pos, torch.ones(1, 10), lm, image_size=(64, 64))) == pytest.approx(0.0, abs=1e-12)


def test_invisible_landmarks_top_images_and_pattern_selection() -> None:
    # 4 images; the pattern's top 3 by score are 0, 2, 3; landmark invisible in image 3, so the std is
    # over images 0 and 2 only: distances 10 and 20 on a 60 x 80 image (diagonal 100) -> std of
    # (0.1, 0.2) = 0.0707...
    pos = torch.tensor([[[0.0, 10.0], [0.0, 99.0], [0.0, 20.0], [0.0, 55.0]]], dtype=torch.float64)
    lm = _landmarks([(0, 0, 1), (0, 0, 1), (0, 0, 1), (0, 0, 0)])
    scores = torch.tensor([[3.0, 0.0, 2.0, 1.0]])
    value = pattern_instability(pos, scores, lm, image_size=(60, 80), top_images=3)
    assert float(value) == pytest.approx(math.sqrt(0.005), abs=1e-12)
    # the layer keeps the strongest ceil(P / 3) patterns: a weak wild pattern is not counted
    wild = torch.tensor([[[0.0, 0.0], [0.0, 80.0], [60.0, 0.0], [60.0, 80.0]]], dtype=torch.float64)
    layer = LayerPatterns("l", torch.cat([pos, wild]), torch.cat([scores, scores * 0.1]))
    assert instability([layer], lm, image_size=(60, 80), top_images=3) == pytest.approx(math.sqrt(0.005), abs=1e-12)


def test_half_sample_interval_brackets_the_value_and_is_deterministic() -> None:
    gen = torch.Generator().manual_seed(1)
    lm_xy = torch.rand(30, 2, generator=gen, dtype=torch.float64) * 40
    lm = torch.cat([lm_xy, torch.ones(30, 1, dtype=torch.float64)], 1)[:, None]
    layer = LayerPatterns("l", torch.rand(6, 30, 2, generator=gen, dtype=torch.float64) * 40, torch.rand(6, 30, generator=gen))
    a = instability_with_ci([layer], lm, image_size=(40, 40), resamples=200)
    assert a == instability_with_ci([layer], lm, image_size=(40, 40), resamples=200)
    assert a[1] <= a[0] <= a[2]
    assert a[0] == instability([layer], lm, image_size=(40, 40))


def test_bootstrap_statistic_of_the_mean_matches_a_direct_resampling() -> None:
    x = np.array([1.0, 4.0, 2.0, 8.0, 5.0])
    value, low, high = bootstrap_statistic(lambda idx: float(x[idx].mean()), 5, resamples=300, seed=4)
    rng = np.random.default_rng(4)
    means = [x[rng.integers(0, 5, size=5)].mean() for _ in range(300)]
    assert value == 4.0
    np.testing.assert_allclose([low, high], np.quantile(means, [0.025, 0.975]), rtol=0, atol=1e-12)


def test_half_samples_have_no_repeats_and_match_a_direct_resampling() -> None:
    x = np.array([1.0, 4.0, 2.0, 8.0, 5.0, 7.0, 3.0, 6.0])
    seen: list[np.ndarray] = []

    def mean_of(idx: np.ndarray) -> np.ndarray:
        seen.append(idx)
        return np.array([x[idx].mean()])

    value, low, high, shift = half_sample_statistics(mean_of, 8, resamples=300, seed=4)[0]
    draws = seen[1:]
    assert all(len(idx) == 4 and len(set(idx.tolist())) == 4 for idx in draws)
    rng = np.random.default_rng(4)
    means = np.array([x[np.sort(rng.choice(8, size=4, replace=False))].mean() for _ in range(300)])
    assert value == 4.5
    assert shift == pytest.approx(means.mean() - 4.5, abs=1e-12)
    np.testing.assert_allclose([low, high], 4.5 + np.quantile(means - means.mean(), [0.025, 0.975]), atol=1e-12)


def test_half_sample_spread_of_a_mean_is_the_full_sample_standard_error() -> None:
    # closed form: a half-sample mean without replacement has variance s^2 (1/m - 1/n) = s^2 / n,
    # the squared standard error of the full-sample mean, so the 95 % interval is about +- 1.96 s / sqrt(n)
    x = np.random.default_rng(0).normal(size=400)
    value, low, high, shift = half_sample_statistics(lambda idx: np.array([x[idx].mean()]), 400, resamples=2000, seed=1)[0]
    se = x.std(ddof=1) / math.sqrt(400)
    assert (high - low) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.08)
    assert abs(shift) < 0.1 * se


def test_repeated_images_bias_the_bootstrap_but_not_half_samples() -> None:
    # 500 patterns at random positions, independent of their scores, landmark fixed: each pattern's
    # statistic is the std of 20 iid distances, whatever the pool. A bootstrap resample repeats images inside the top
    # 20 (zero spread between copies), so its mean falls below the value; halves have no such bias.
    gen = torch.Generator().manual_seed(3)
    n = 400
    lm = torch.tensor([[[20.0, 20.0, 1.0]]], dtype=torch.float64).expand(n, 1, 3)
    layer = LayerPatterns("l", torch.rand(500, n, 2, generator=gen, dtype=torch.float64) * 40,
                          torch.rand(500, n, generator=gen))

    def statistic(idx: np.ndarray) -> float:
        index = torch.as_tensor(idx, dtype=torch.long)
        return instability(subset([layer], index), lm[index], image_size=(40, 40), pattern_fraction=1.0)

    value = statistic(np.arange(n))
    rng = np.random.default_rng(0)
    boot = np.mean([statistic(rng.integers(0, n, size=n)) for _ in range(50)])
    _, low, high, shift = half_sample_statistics(lambda idx: np.array([statistic(idx)]), n, resamples=50, seed=0)[0]
    assert boot < 0.98 * value and boot < low  # the bias (first full run: -3.5 %) that halves remove
    assert abs(shift) < 0.01 * value
    assert low < value < high


def test_raw_peaks_and_random_positions() -> None:
    geo = LayerGeometry(size=(4, 4), stride=(4, 4), offset=(0, 0), grid=(2, 3))
    act = torch.zeros(2, 1, 2, 3)
    act[0, 0, 1, 2], act[1, 0, 0, 1] = 2.0, 6.0  # mean per-image max 4: scores 0.5 and 1.5
    peaks = raw_peaks("l", act, geo)
    assert peaks.positions.tolist() == [[[5.5, 9.5], [1.5, 5.5]]]
    assert peaks.scores.tolist() == [[0.5, 1.5]]
    rand = random_positions(peaks, image_size=(8, 12), seed=0)
    assert rand.scores is peaks.scores
    assert bool(((rand.positions >= 0) & (rand.positions < torch.tensor([8.0, 12.0]))).all())


def test_landmark_names() -> None:
    names = ("back", "beak", "forehead", "tail")
    assert landmark_indices(names, ["back", "forehead", "tail"]) == [0, 2, 3]
    assert landmark_indices(names, ["all"]) == [0, 1, 2, 3]
    with pytest.raises(DataError, match="wing"):
        landmark_indices(names, ["wing"])


def test_comparison_tables_paired_difference_and_verdict() -> None:
    # 12 images, landmark wandering over the image. "follow" always sits 5 px from it (instability
    # 0); "still" stays at one place, so its instability is the std of its distances to the
    # landmark, and follow - still is exactly -instability(still) on every resample.
    gen = torch.Generator().manual_seed(1)
    lm_xy = torch.rand(12, 2, generator=gen, dtype=torch.float64) * 60
    lm = torch.cat([lm_xy, torch.ones(12, 1, dtype=torch.float64)], 1)[:, None]
    follow = LayerPatterns("a", torch.stack([lm_xy[:, 1] + 3.0, lm_xy[:, 0] - 4.0], 1)[None], torch.ones(1, 12))
    still = LayerPatterns("a", torch.full((1, 12, 2), 30.0, dtype=torch.float64), torch.ones(1, 12))
    wild = LayerPatterns("b", torch.rand(2, 12, 2, generator=gen, dtype=torch.float64) * 64, torch.rand(2, 12, generator=gen))
    sources = {"explanatory graph": [follow, wild], "raw filter peaks": [still, wild], "random positions": [still, LayerPatterns("b", still.positions, still.scores)]}
    size = (64, 64)
    rows, diffs = comparison_tables(sources, (lm, ["back"]), model="m", image_size=size, resamples=50, seed=0)
    assert [(r["positions"], r["layer"]) for r in rows] == [(s, la) for s in sources for la in ("all", "a", "b")]
    for row in rows:  # differential: the one-pass bootstrap equals a separate bootstrap per statistic
        layers = sources[row["positions"]]
        chosen = layers if row["layer"] == "all" else [lay for lay in layers if lay.layer == row["layer"]][:1]
        expected = instability_with_ci(chosen, lm, image_size=size, resamples=50, seed=0)
        assert (row["instability"], row["ci_low"], row["ci_high"]) == pytest.approx(expected, abs=1e-12, nan_ok=True)
    alone = instability_with_ci([still], lm, image_size=size, resamples=50, seed=0)
    (layer_a,) = [d for d in diffs if d["versus"] == "raw filter peaks" and d["layer"] == "a"]
    assert (layer_a["difference"], layer_a["ci_low"], layer_a["ci_high"]) == pytest.approx(
        (-alone[0], -alone[2], -alone[1]), abs=1e-12)  # same resamples, sign flipped
    assert layer_a["verdict"] == "lower"
    (layer_b,) = [d for d in diffs if d["versus"] == "raw filter peaks" and d["layer"] == "b"]
    assert (layer_b["difference"], layer_b["ci_low"], layer_b["ci_high"], layer_b["verdict"]) == (0, 0, 0, "inconclusive")
    assert verdict(0.01, 0.2) == "not lower"
    assert verdict(-0.1, 0.2) == verdict(math.nan, math.nan) == "inconclusive"
