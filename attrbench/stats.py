"""Confidence intervals for summaries of per-sample metric values.

The default is the Student t-interval of the mean, mean +- t_{0.975, n-1} * s / sqrt(n) with the
sample standard deviation s (ddof = 1): samples are independent images, and n >= ~30 in normal
runs, where the interval is accurate for bounded metric values. A percentile bootstrap is
available for small or skewed samples.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["bootstrap_ci", "mean_ci", "t_ci"]


def t_ci(values: np.ndarray, *, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the t-interval; NaN bounds when n < 2, NaN everything when n = 0."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1)) * sem
    return mean, mean - half, mean + half


def bootstrap_ci(
    values: np.ndarray, *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high) of the percentile bootstrap of the mean (seeded, deterministic)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)


def mean_ci(values: np.ndarray, *, method: str = "t", level: float = 0.95) -> tuple[float, float, float]:
    """Dispatch to :func:`t_ci` ("t") or :func:`bootstrap_ci` ("bootstrap")."""
    if method == "t":
        return t_ci(values, level=level)
    if method == "bootstrap":
        return bootstrap_ci(values, level=level)
    raise ValueError(f"unknown CI method {method!r}; choose 't' or 'bootstrap'")
