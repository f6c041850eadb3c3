"""Several runs in one table or figure: runs are kept apart, never pooled.

Two runs that score the same (model, method, metric) hold two samples of that key; pooling them
would count a sample twice when the runs share samples (the same split, another seed) and shrink
every interval. When the runs given to ``attrbench export`` / ``report`` overlap in any key, each
run's records and curves get the run as a row group: ``model`` becomes ``"<model> [<run>]"``
(``<run>`` the run id, made unique by the directory name), so every summary, interval,
tied-with-best test and curve is computed per run. Runs with disjoint keys (each method in its own
run) are combined as they are. Summaries of bounded metrics use the declared value ranges of the
runs' ``config.json`` (``metric_info[...]["ranges"]``), so their intervals stay in range
(:func:`declared_ranges`, :func:`attrbench.results.summarise`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from attrbench.stats import ValueRange

__all__ = ["declared_ranges", "keep_runs_apart", "overlapping", "run_labels"]


def run_labels(run_ids: Sequence[str], dirs: Sequence[str]) -> list[str]:
    """One distinct label per run: its run id, or ``"<run id>@<directory name>"`` when ids repeat."""
    out = []
    for i, (rid, d) in enumerate(zip(run_ids, dirs)):
        label = rid if list(run_ids).count(rid) == 1 else f"{rid}@{d}"
        out.append(label if label not in out else f"{label}#{i}")
    return out


def overlapping(records: Sequence[pd.DataFrame]) -> bool:
    """Do two of the runs' records share a (model, method, metric) key?"""
    seen: set[tuple[str, str, str]] = set()
    for frame in records:
        keys = set(zip(frame["model"].astype(str), frame["method"].astype(str), frame["metric"].astype(str)))
        if keys & seen:
            return True
        seen |= keys
    return False


def keep_runs_apart(records: Sequence[pd.DataFrame], labels: Sequence[str],
                    curves: Sequence[pd.DataFrame] | None = None) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:  # fmt: skip
    """Each run's records (and curves) with ``model`` tagged by its run when the runs overlap (module docstring).

    Returns:
        (records, curves) per run, unchanged when no key is shared.
    """
    curves = list(curves) if curves is not None else []
    if len(records) < 2 or not overlapping(records):
        return list(records), curves

    def tag(frame: pd.DataFrame, label: str) -> pd.DataFrame:
        return frame.assign(model=frame["model"].astype(str) + f" [{label}]") if len(frame) else frame

    return ([tag(f, lab) for f, lab in zip(records, labels)],
            [tag(f, lab) for f, lab in zip(curves, labels)])  # fmt: skip


def declared_ranges(configs: Sequence[Mapping[str, Any]]) -> dict[str, ValueRange]:
    """Value-name prefix -> declared range, from the runs' ``metric_info`` (bounded ranges only)."""
    import math

    out: dict[str, ValueRange] = {}
    for config in configs:
        for info in (config.get("metric_info") or {}).values():
            for prefix, r in ((info or {}).get("ranges") or {}).items():
                low = -math.inf if r.get("low") is None else float(r["low"])
                high = math.inf if r.get("high") is None else float(r["high"])
                if math.isfinite(low) or math.isfinite(high):
                    out[prefix] = ValueRange(low=low, high=high, kind=r.get("kind", "continuous"))
    return out
