"""Confidence intervals that respect a metric's range, and paired tests for tied-with-best groups.

Intervals of the mean of per-sample metric values (samples are independent images):

* ``t``: Student t-interval, mean +- t_{(1+level)/2, n-1} * s / sqrt(n) (s with ddof = 1). It can
  leave the metric's range (a pointing game of 0.94 over 32 images gives [0.85, 1.03]); kept for
  comparison and clipped to the declared range when one is given.
* ``bootstrap``: percentile bootstrap of the mean (seeded, deterministic). Every resampled mean is
  a mean of observed values, so the interval never leaves [min, max] of the data, hence never the
  metric's range: the default for bounded continuous values.
* ``wilson``: Wilson score interval for a proportion k / n (Wilson, JASA 1927), for binary
  per-sample values (hit / miss, e.g. the pointing game); it always lies in [0, 1].

:func:`interval` picks the interval from a :class:`ValueRange` (the metric's declared range and
kind): binary -> Wilson, otherwise bootstrap (clipped to the range).

Statistically tied with the best (:func:`tied_with_best`): per (model, metric), over the samples
shared by all compared methods, the method with the best mean is compared with every other method
by a two-sided paired Wilcoxon signed-rank test (Wilcoxon, 1945); the p-values are Holm-corrected
(Holm, Scand. J. Stat. 1979) and every method whose corrected p-value is >= alpha is tied with
the best. Reference rows (oracle, random, sobel, the patch-grid Grad-CAM) are never compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attrbench.errors import OptionError
if TYPE_CHECKING:  # pandas is only needed by callers that pass records
    import pandas as pd

__all__ = [
    "KINDS",
    "ValueRange",
    "bootstrap_ci",
    "bootstrap_statistic",
    "bootstrap_statistics",
    "half_sample_statistics",
    "ci_method_name",
    "holm",
    "interval",
    "mean_ci",
    "paired_wilcoxon",
    "t_ci",
    "tied_with_best",
    "wilson_ci",
]

#: value kinds: "continuous" (any real value in the range) or "binary" (each sample is 0 or 1).
KINDS: tuple[str, ...] = ("continuous", "binary")


@dataclass(frozen=True)
class ValueRange:
    """The declared range and kind of a per-sample metric value.

    Attributes:
        low, high: the values a sample can take lie in [low, high] (infinite = unbounded).
        kind: "continuous" or "binary" (0/1 per sample: the mean is a proportion).
    """

    low: float = -math.inf
    high: float = math.inf
    kind: str = "continuous"

    def as_dict(self) -> dict[str, float | str]:
        """JSON-ready form for the run config (infinite bounds as None)."""
        bound = lambda v: v if math.isfinite(v) else None  # noqa: E731
        return {"low": bound(self.low), "high": bound(self.high), "kind": self.kind}

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"ValueRange: unknown kind {self.kind!r}; choose from {KINDS}")
        if not self.low < self.high:
            raise ValueError(f"ValueRange: low must be below high, got [{self.low}, {self.high}]")
        if self.kind == "binary" and (self.low, self.high) != (0.0, 1.0):
            raise ValueError(f"ValueRange: a binary value lies in [0, 1], got [{self.low}, {self.high}]")


def _finite(values: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """Finite values, and the degenerate (mean, NaN, NaN) answer when fewer than two remain."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return x, (math.nan, math.nan, math.nan)
    if x.size < 2:
        return x, (float(x.mean()), math.nan, math.nan)
    return x, None


def t_ci(values: np.ndarray, *, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the t-interval; NaN bounds when n < 2, NaN everything when n = 0."""
    from scipy import stats

    x, degenerate = _finite(values)
    if degenerate is not None:
        return degenerate
    n = x.size
    mean = float(x.mean())
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1)) * sem
    return mean, mean - half, mean + half


def bootstrap_ci(
    values: np.ndarray, *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high) of the percentile bootstrap of the mean (seeded, deterministic)."""
    x, degenerate = _finite(values)
    if degenerate is not None:
        return degenerate
    n = x.size
    mean = float(x.mean())
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)


def bootstrap_statistic(
    statistic: Callable[[np.ndarray], float], n: int, *, level: float = 0.95, resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """(value, low, high): percentile bootstrap of any statistic of n independent units (seeded).

    ``statistic(indices)`` computes the statistic on the units ``indices`` (an int array of length n,
    repeats allowed); the value is ``statistic(arange(n))`` and the interval the percentiles of the
    finite resampled values (NaN bounds when fewer than two are finite, or n < 2).
    """
    row = bootstrap_statistics(lambda idx: np.array([statistic(idx)]), n, level=level, resamples=resamples, seed=seed)
    return float(row[0, 0]), float(row[0, 1]), float(row[0, 2])


def bootstrap_statistics(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, *, level: float = 0.95, resamples: int = 1000, seed: int = 0
) -> np.ndarray:
    """(K, 3) rows (value, low, high): :func:`bootstrap_statistic` of K statistics computed together
    (``statistic(indices)`` returns all K) on the same resamples; row k equals a separate
    :func:`bootstrap_statistic` call of statistic k with the same seed."""
    draw = lambda rng: rng.integers(0, n, size=n)  # noqa: E731
    return _resampled(statistic, n, draw=draw, min_n=2, level=level, resamples=resamples, seed=seed, centred=False)[:, :3]


def half_sample_statistics(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, *, level: float = 0.95, resamples: int = 1000, seed: int = 0
) -> np.ndarray:
    """(K, 4) rows (value, low, high, shift): intervals for statistics that a repeated unit would bias.

    For statistics that select among the units (the top images of a pattern), a bootstrap resample
    with replacement enters the same unit twice; both copies are selected together and their spread
    is zero, so every resampled value is biased (location instability: all intervals below the value).
    Here each resample is a random half of the units without replacement (m = n // 2, no unit twice;
    McCarthy's half-sampling). For a mean, the finite-population variance of a half-sample mean is
    s^2 (1/m - 1/n) = s^2 / n (n even): the spread of the half-sample values is the spread of the
    full-sample value, so their quantiles give the interval's width without rescaling.

    A statistic that depends on the pool size (the top 20 of 200 images are a weaker selection than
    the top 20 of 400) is shifted on halves; the interval is therefore centred on the value:
    ``low, high = value + quantiles(draws - mean(draws))`` at (1 -+ level) / 2, and ``shift =
    mean(draws) - value`` is returned so that the size of that correction is on record.

    Args:
        statistic: ``statistic(indices)`` -> the K statistics on the units ``indices`` (sorted, distinct).
        n: number of units; fewer than 4 gives NaN intervals.

    Returns:
        (K, 4) float64: value on all units, interval bounds, mean half-sample shift (NaN where fewer
        than two resampled values are finite).
    """
    draw = lambda rng: np.sort(rng.choice(n, size=n // 2, replace=False))  # noqa: E731
    return _resampled(statistic, n, draw=draw, min_n=4, level=level, resamples=resamples, seed=seed, centred=True)


def _resampled(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, *, draw: Callable[[np.random.Generator], np.ndarray],
    min_n: int, level: float, resamples: int, seed: int, centred: bool,
) -> np.ndarray:  # fmt: skip
    """(K, 4) rows (value, low, high, shift) from ``resamples`` draws of unit indices (``draw(rng)``):
    percentile interval of the resampled values, or (``centred``) that interval moved so that the
    resampled mean sits on the value; shift = resampled mean - value (NaN intervals below ``min_n``
    units or with fewer than two finite resampled values)."""
    value = np.asarray(statistic(np.arange(n)), dtype=np.float64)
    out = np.full((value.size, 4), math.nan)
    out[:, 0] = value
    if n < min_n:
        return out
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(draw(rng)) for _ in range(resamples)], dtype=np.float64)
    alpha = (1 - level) / 2
    for k in range(value.size):
        finite = draws[:, k][np.isfinite(draws[:, k])]
        if finite.size >= 2:
            centre = float(finite.mean())
            out[k, 1:3] = np.quantile(finite - centre, [alpha, 1 - alpha]) + value[k] if centred else \
                np.quantile(finite, [alpha, 1 - alpha])
            out[k, 3] = centre - value[k]
    return out


def wilson_ci(*, successes: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """(k / n, low, high) of the Wilson score interval for a proportion.

    With p = k / n and z the (1 + level) / 2 normal quantile:

        centre = (p + z^2 / 2n) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)

    Args:
        successes: k, 0 <= k <= n.
        n: number of trials (0 gives NaN everything).
    """
    from scipy.special import ndtri  # what scipy.stats.norm.ppf calls, without importing scipy.stats (~1 s)

    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"wilson_ci: need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return math.nan, math.nan, math.nan
    p = successes / n
    z = float(ndtri(0.5 + level / 2))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return p, max(0.0, centre - half), min(1.0, centre + half)


def interval(
    values: np.ndarray,
    *,
    value_range: ValueRange | None = None,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(mean, low, high): the interval chosen by the value's declared range and kind.

    Binary values get the Wilson interval, everything else the seeded percentile bootstrap,
    clipped to ``[value_range.low, value_range.high]`` (a no-op for values inside the range; the
    clip guards against values that broke the declaration by rounding).

    Raises:
        ValueError: a value declared binary is not 0 or 1.
    """
    value_range = value_range or ValueRange()
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if value_range.kind == "binary":
        if not np.isin(x, (0.0, 1.0)).all():
            raise ValueError(f"interval: values declared binary must be 0 or 1, got {sorted(set(x.tolist()))[:5]}")
        return wilson_ci(successes=int(x.sum()), n=int(x.size), level=level)
    mean, low, high = bootstrap_ci(x, level=level, resamples=resamples, seed=seed)
    if math.isfinite(low):
        low, high = (min(max(v, value_range.low), value_range.high) for v in (low, high))
    return mean, low, high


def mean_ci(
    values: np.ndarray, *, method: str = "t", level: float = 0.95, value_range: ValueRange | None = None
) -> tuple[float, float, float]:
    """Dispatch: "t" (:func:`t_ci`, clipped to ``value_range`` when given), "bootstrap"
    (:func:`bootstrap_ci`) or "range" (:func:`interval`: Wilson or bootstrap by the declared range)."""
    if method == "t":
        mean, low, high = t_ci(values, level=level)
        if value_range is not None and math.isfinite(low):
            low, high = max(low, value_range.low), min(high, value_range.high)
        return mean, low, high
    if method == "bootstrap":
        return bootstrap_ci(values, level=level)
    if method == "range":
        return interval(values, value_range=value_range, level=level)
    raise OptionError(f"unknown CI method {method!r}; choose 't', 'bootstrap' or 'range'")


def ci_method_name(ci: str, value_range: ValueRange | None) -> str:
    """The interval :func:`mean_ci` gives under ``ci`` for a value of ``value_range``: "wilson", "bootstrap" or "t"."""
    if ci == "range":
        return "wilson" if value_range is not None and value_range.kind == "binary" else "bootstrap"
    return ci


def holm(pvalues: Iterable[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (same order as given; Holm, Scand. J. Stat. 1979).

    Sorted ascending p_(1) <= ... <= p_(m): adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)).
    Rejecting where the adjusted p-value is < alpha controls the family-wise error at alpha.
    """
    p = np.asarray(list(pvalues), dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def paired_wilcoxon(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test of x - y (paired samples).

    Zero differences are dropped (Wilcoxon's convention, scipy ``zero_method="wilcox"``); if every
    difference is zero the two are indistinguishable and the p-value is 1.
    """
    from scipy import stats

    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    if d.shape != np.shape(y) or d.ndim != 1:
        raise ValueError(f"paired_wilcoxon: x and y must be 1-D of equal length, got {np.shape(x)} and {np.shape(y)}")
    if not np.any(d != 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def tied_with_best(
    records: pd.DataFrame,
    *,
    alpha: float = 0.05,
    reference: Iterable[str] = (),
    directions: Mapping[str, bool] | None = None,
) -> dict[tuple[str, str], frozenset[str]]:
    """Per (model, metric), the methods statistically tied with the best (module docstring).

    Args:
        records: long-format records with columns model, method, metric, sample_id, value and
            (optional) status and higher_is_better; only ok, finite values are used, paired by
            sample_id over the samples every compared method has.
        alpha: family-wise level of the Holm-corrected tests.
        reference: methods never compared and never in a group (oracle, random, sobel, ...).
        directions: metric -> higher_is_better (default: the records' ``higher_is_better``).

    Returns:
        (model, metric) -> the best method and every method not significantly different from it
        (empty when fewer than one method has shared samples); normalised AUCs are compared on their
        raw AUCs (:func:`attrbench.raw_ranking.ranked_on_raw`).
    """
    if not 0 < alpha < 1:
        raise OptionError(f"tied_with_best: alpha must lie in (0, 1), got {alpha}")
    reference = set(reference)
    from attrbench.raw_ranking import ranked_on_raw

    records = ranked_on_raw(records)
    ok = records[~records["method"].isin(reference) & np.isfinite(records["value"].astype(float))]
    if "status" in ok.columns:
        ok = ok[ok["status"] == "ok"]
    groups: dict[tuple[str, str], frozenset[str]] = {}
    for (model, metric), group in ok.groupby(["model", "metric"], sort=False):
        if directions is not None:
            hib = bool(directions[metric])
        else:
            hib = bool(group["higher_is_better"].iloc[0])
        wide = group.pivot_table(index="sample_id", columns="method", values="value", aggfunc="first").dropna()
        if wide.empty:
            groups[(model, metric)] = frozenset()
            continue
        means = wide.mean(axis=0)
        best = str(means.idxmax() if hib else means.idxmin())
        others = [str(m) for m in wide.columns if m != best]
        p = holm(paired_wilcoxon(wide[best].to_numpy(), wide[m].to_numpy()) for m in others)
        groups[(model, metric)] = frozenset([best, *(m for m, pv in zip(others, p) if pv >= alpha)])
    return groups
