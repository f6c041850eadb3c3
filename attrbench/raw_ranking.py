"""Ranking methods by a normalised curve AUC: compare them on the raw AUC of the same curve.

A normalised curve AUC divides by f(x) - f(fill), a property of the image, not of the method.
Where the fill scores like the image, or higher (the black fill on 7.5 % of bagnet17-synthbirds'
200 leaderboard images: results/leaderboard/README.md, "Fills that do not delete"), the per-image
value explodes or flips its direction, so per-image comparisons between methods (paired tests,
resampled rankings) use the raw AUC of the same curve. Because f(x) and f(fill) are the same for
every method, the methods' order by mean raw AUC is their order by the ratio-of-means
normalisation (mean AUC - mean f(fill)) / (mean f(x) - mean f(fill)), which has no per-image
denominator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ranked_on_raw", "raw_companion"]


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
