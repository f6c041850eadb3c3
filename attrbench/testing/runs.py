"""Run directories written by construction, for testing report/export/check without a model.

The files follow the fixed run-directory schema of :mod:`attrbench.results`:
``config.json``, ``records.parquet`` (``run_id, dataset, model, method, metric, sample_id, value,
status, error, higher_is_better, category``), ``curves.parquet`` (``run_id, dataset, model, method,
curve, sample_id, step, fraction, score``) and ``summary.csv``. Values are chosen by the caller so
that means, CIs and rankings are known in closed form.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["RECORD_COLUMNS", "CURVE_COLUMNS", "write_run"]

RECORD_COLUMNS: tuple[str, ...] = (
    "run_id", "dataset", "model", "method", "metric", "sample_id", "value", "status", "error",
    "higher_is_better", "category",
)
CURVE_COLUMNS: tuple[str, ...] = (
    "run_id", "dataset", "model", "method", "curve", "sample_id", "step", "fraction", "score",
)


def write_run(
    path: str | Path,
    *,
    values: Mapping[str, Mapping[str, Sequence[float]]],
    directions: Mapping[str, bool],
    categories: Mapping[str, str] | None = None,
    run_id: str = "run-test",
    model: str = "tiny-bagnet9",
    dataset: str = "toy",
    curve: Callable[[str, str, int, np.ndarray], np.ndarray] | None = None,
    n_steps: int = 4,
    failed: Mapping[tuple[str, str], Sequence[int]] | None = None,
    config: Mapping[str, object] | None = None,
) -> Path:
    """Write a run directory whose records hold exactly ``values``.

    Long: writes every column of a run directory's files explicitly, so that a test's expected
    values can be checked by hand.

    Args:
        path: directory to create.
        values: ``values[method][metric]`` = per-sample values (sample ids ``s0, s1, ...``).
        directions: metric -> higher_is_better.
        categories: metric -> category (default "ground_truth").
        run_id, model, dataset: identity columns.
        curve: ``curve(method, kind, sample_index, fractions) -> scores`` for "deletion" and
            "insertion"; None writes an empty curves table.
        n_steps: curve points are ``fraction = step / n_steps`` for step 0..n_steps.
        failed: ``(method, metric) -> sample indices`` recorded as failed (value NaN).
        config: extra entries merged into config.json.

    Returns:
        The run directory.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    categories = categories or {}
    failed = failed or {}
    rows = []
    for method, per_metric in values.items():
        for metric, vals in per_metric.items():
            bad = set(failed.get((method, metric), ()))
            for i, v in enumerate(vals):
                ok = i not in bad
                rows.append({
                    "run_id": run_id, "dataset": dataset, "model": model, "method": method,
                    "metric": metric, "sample_id": f"s{i}", "value": float(v) if ok else float("nan"),
                    "status": "ok" if ok else "failed", "error": "" if ok else "RuntimeError: test failure",
                    "higher_is_better": bool(directions[metric]),
                    "category": categories.get(metric, "ground_truth"),
                })
    records = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    records.to_parquet(path / "records.parquet", index=False)

    curve_rows = []
    if curve is not None:
        fractions = np.arange(n_steps + 1) / n_steps
        for method, per_metric in values.items():
            n = len(next(iter(per_metric.values())))
            for kind in ("deletion", "insertion"):
                for i in range(n):
                    scores = curve(method, kind, i, fractions)
                    for step, (fr, sc) in enumerate(zip(fractions, scores)):
                        curve_rows.append({
                            "run_id": run_id, "dataset": dataset, "model": model, "method": method,
                            "curve": kind, "sample_id": f"s{i}", "step": step, "fraction": float(fr),
                            "score": float(sc),
                        })
    curves = pd.DataFrame(curve_rows, columns=list(CURVE_COLUMNS))
    curves = curves.astype({"step": "int64", "fraction": "float64", "score": "float64"})
    curves.to_parquet(path / "curves.parquet", index=False)

    methods = list(values)
    metrics = sorted({m for per in values.values() for m in per})
    n_samples = max(len(v) for per in values.values() for v in per.values())
    cfg: dict[str, object] = {
        "run_id": run_id,
        "model": model,
        "dataset": dataset,
        "methods": methods,
        "metrics": metrics,
        "n_samples": n_samples,
        "batch_size": 4,
        "seed": 0,
        "postprocess": {"reduce": "sum", "relu": False, "normalise": "none", "upsample": "bilinear"},
        "track": "classification",
        "git": "unknown",
    }
    cfg.update(config or {})
    (path / "config.json").write_text(json.dumps(cfg, indent=2))

    from attrbench.results import summarise

    summarise(records).to_csv(path / "summary.csv", index=False)
    return path
