"""Confidence intervals for summaries of per-sample metric values.

The default is the Student t-interval of the mean, mean +- t_{0.975, n-1} * s / sqrt(n) with the
sample standard deviation s (ddof = 1): samples are independent images, and n >= ~30 in normal
runs, where the interval is accurate for bounded metric values. A percentile bootstrap is
available for small or skewed samples.
"""

from __future__ import annotations

import math

import numpy as np

from attrbench.errors import OptionError

__all__ = ["bootstrap_ci", "mean_ci", "t_ci"]


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


def mean_ci(values: np.ndarray, *, method: str = "t", level: float = 0.95) -> tuple[float, float, float]:
    """Dispatch to :func:`t_ci` ("t") or :func:`bootstrap_ci` ("bootstrap")."""
    if method == "t":
        return t_ci(values, level=level)
    if method == "bootstrap":
        return bootstrap_ci(values, level=level)
    raise OptionError(f"unknown CI method {method!r}; choose 't' or 'bootstrap'")
