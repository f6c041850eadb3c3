"""Ranking methods by a normalised curve AUC: compare them on the raw AUC of the same curve.

A normalised curve AUC divides by f(x) - f(fill), a property of the image, not of the method.
Where the fill scores like the image, or higher (the black fill on 7.5 % of bagnet17-synthbirds'
200 leaderboard images: results/leaderboard/README.md, "Fills that do not delete"), the per-image
value explodes or flips its direction, so per-image comparisons between methods (paired tests,
resampled rankings) use the raw AUC of the same curve. Because f(x) and f(fill) are the same for
every method, the methods' order by mean raw AUC is their order by the ratio-of-means
normalisation (mean AUC - mean f(fill)) / (mean f(x) - mean f(fill)), which has no per-image
denominator.

The tables print that ratio of means (:func:`ratio_of_means`), not the mean of the per-image values:
it is the normalised AUC of the mean curve (the trapezoid rule is linear, and the mean curve starts
at mean f(x) and ends at mean f(fill)), the curve the figures draw. Its interval is a percentile
bootstrap over images (the same seeded resamples as :func:`attrbench.stats.bootstrap_ci`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["RATIO_OF_MEANS", "curve_of", "end_points", "ranked_on_raw", "ratio_of_means", "raw_companion"]

#: the ``ci_method`` of a summary row computed by :func:`ratio_of_means`.
RATIO_OF_MEANS = "bootstrap, ratio of means"


def raw_companion(metric: str) -> str:
    """The raw-AUC record name of a normalised AUC: ``deletion_auc[fill=zero]`` -> ``deletion_auc_raw[fill=zero]``."""
    name, bracket, rest = metric.partition("[")
    return f"{name}_raw{bracket}{rest}"


def ranked_on_raw(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` in which every metric with a raw-AUC companion carries the companion's values.

    For paired tests and rankings of methods (module docstring): each row of a normalised AUC
    (``<name>[...]`` with a ``<name>_raw[...]`` row for the same run, model, method and sample) takes
    the raw row's value and status; rows without a companion stay as they are.

    Args:
        records: long-format records (metric, method, sample_id, value; optional run_id, model, status).

    Returns:
        a copy of ``records`` with the same rows and columns.
    """
    metrics = set(records["metric"])
    swap = {m: raw_companion(m) for m in metrics if "_raw" not in m and raw_companion(m) in metrics}
    if not swap:
        return records
    keys = [c for c in ("run_id", "model", "method", "sample_id") if c in records.columns]
    carried = [c for c in ("value", "status") if c in records.columns]
    raw = records[records["metric"].isin(set(swap.values()))][[*keys, "metric", *carried]]
    inverse = {v: k for k, v in swap.items()}
    raw = raw.assign(metric=raw["metric"].map(inverse)).drop_duplicates([*keys, "metric"])
    out = records.reset_index(drop=True)
    merged = out[[*keys, "metric"]].merge(raw, on=[*keys, "metric"], how="left", indicator=True)
    has = (merged["_merge"] == "both").to_numpy()
    out = out.copy()
    for c in carried:
        out.loc[has, c] = merged.loc[has, c].to_numpy()
    return out


def curve_of(metric: str) -> str:
    """The stored curve of a normalised AUC: ``deletion_auc[fill=zero]`` -> ``deletion[fill=zero]``,
    ``insertion_auc`` -> ``insertion``, ``patch_deletion_auc`` -> ``patch_deletion``."""
    name, bracket, rest = metric.partition("[")
    return f"{name.removesuffix('_auc')}{bracket}{rest}"


def end_points(curves: pd.DataFrame) -> pd.DataFrame:
    """f(x) and f(fill) of every stored curve: a deletion curve starts at f(x) and ends at f(fill),
    an insertion curve the other way round.

    Args:
        curves: long-format curves (model, method, curve, sample_id, step, score).

    Returns:
        columns model, method, curve, sample_id, f_x, f_fill (one row per curve).
    """
    keys = ["model", "method", "curve", "sample_id"]
    if curves.empty:
        return pd.DataFrame(columns=[*keys, "f_x", "f_fill"])
    ordered = curves.sort_values("step", kind="stable").groupby(keys, sort=False)["score"]  # curves in stored order
    out = ordered.first().rename("first").to_frame().join(ordered.last().rename("last")).reset_index()
    insertion = out["curve"].str.startswith("insertion").to_numpy()
    out["f_x"] = np.where(insertion, out["last"], out["first"])
    out["f_fill"] = np.where(insertion, out["first"], out["last"])
    return out[[*keys, "f_x", "f_fill"]]


def _ratio(auc: np.ndarray, f_x: np.ndarray, f_fill: np.ndarray) -> np.ndarray:
    """(mean AUC - mean f(fill)) / (mean f(x) - mean f(fill)) along the last axis; NaN where the
    mean fill does not score below the mean image (the fill does not delete on average)."""
    a, fx, ff = (v.mean(axis=-1) for v in (auc, f_x, f_fill))
    denom = fx - ff
    scale = np.maximum(1.0, np.maximum(np.abs(fx), np.abs(ff)))
    ok = denom > 1e-9 * scale
    return np.where(ok, (a - ff) / np.where(ok, denom, 1.0), np.nan)


def ratio_of_means(records: pd.DataFrame, curves: pd.DataFrame, *, level: float = 0.95, resamples: int = 2000,
                   seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Per (model, method, normalised AUC): the ratio-of-means normalised AUC and its bootstrap interval.

    The value is the normalised AUC of the mean curve (module docstring), over the images with an
    ok, finite raw AUC and a stored curve. The interval is the percentile bootstrap over those
    images; it is NaN when fewer than two images are used, or when more than 1 - ``level`` of the
    resamples have a mean fill that does not score below the mean image (the ratio is undefined).

    Args:
        records: long-format records (model, method, metric, sample_id, value, status).
        curves: long-format curves of the same runs (model, method, curve, sample_id, step, score).

    Returns:
        columns model, method, metric, n, mean, ci_low, ci_high; one row per key whose metric has a
        raw companion and whose curve is stored.
    """
    columns = ["model", "method", "metric", "n", "mean", "ci_low", "ci_high"]
    metrics = set(records["metric"])
    normalised = sorted(m for m in metrics if "_raw" not in m and raw_companion(m) in metrics)
    ends = end_points(curves)
    rows = []
    for metric in normalised:
        raw = records[(records["metric"] == raw_companion(metric)) & (records["status"] == "ok")]
        raw = raw[np.isfinite(raw["value"].to_numpy(dtype=np.float64))]
        joined = raw.merge(ends[ends["curve"] == curve_of(metric)], on=["model", "method", "sample_id"])
        for (model, method), group in joined.groupby(["model", "method"], sort=False):
            auc, fx, ff = (group[c].to_numpy(dtype=np.float64) for c in ("value", "f_x", "f_fill"))
            n = auc.size
            value = float(_ratio(auc, fx, ff))
            low = high = float("nan")
            if n >= 2:
                idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
                draws = _ratio(auc[idx], fx[idx], ff[idx])
                if np.isnan(draws).mean() <= 1 - level:
                    low, high = (float(q) for q in np.nanquantile(draws, [(1 - level) / 2, (1 + level) / 2]))
            rows.append({"model": model, "method": method, "metric": metric, "n": n, "mean": value,
                         "ci_low": low, "ci_high": high})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
