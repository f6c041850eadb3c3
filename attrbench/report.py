"""Figures from stored run results: curves with confidence bands, metric point plots, a gallery.

All statistics are read from run directories (``records.parquet``, ``curves.parquet``), never
from a run's in-memory state, and summarised with :func:`attrbench.stats.mean_ci` — the same
95 % CI as the tables of :mod:`attrbench.export` and the runner's ``summary.csv``.

Figures (PNG and/or PDF; plain Figure objects rendered by the non-interactive Agg/PDF backends,
no pyplot state; seaborn's whitegrid style):
    * ``curves.<ext>``: deletion and insertion curves per method; x = fraction of the image
      removed (deletion) or inserted (insertion) in [0, 1], y = the target score in the units the
      run used (class logit or probability); line = mean over samples, band = 95 % CI per step.
      With several models one row per model.
    * ``metrics.<ext>``: one panel per metric (title with ↑/↓ for its direction): mean and 95 % CI
      per method; with several runs/models the points are split by model (hue).
    * ``gallery.<ext>`` (optional, :func:`gallery_figure`): image | ground truth | each method's
      map for chosen samples. Runs do not store maps, so the gallery *recomputes* them from the run
      configuration (model, dataset, methods with their hyperparameters, post-processing, seed)
      for the chosen sample ids; with a fixed seed this is deterministic (see :mod:`attrbench.gallery`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from attrbench.errors import DataError, OptionError
from attrbench.export import RunTables, load_tables

__all__ = [
    "FIGURE_FORMATS",
    "RunTables",
    "curve_summary",
    "curves_figure",
    "load_tables",
    "metrics_figure",
    "save_figure",
    "write_report",
]

FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf")
ARROW = {True: "↑", False: "↓"}
_F = TypeVar("_F", bound=Callable[..., Any])


def _styled(font_scale: float) -> Callable[[_F], _F]:
    """Draw inside seaborn's whitegrid/paper style without touching global matplotlib state.

    Figures are plain :class:`matplotlib.figure.Figure` objects (not pyplot's), rendered by the
    non-interactive Agg (PNG) and PDF backends on ``savefig``: no window, no global backend switch.
    """

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=font_scale):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def curve_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95 % CI of the score per (model, method, curve, step) over samples.

    Returns:
        Columns model, method, curve, step, fraction, n, mean, ci_low, ci_high.
    """
    from attrbench.stats import mean_ci

    rows = []
    keys = ["model", "method", "curve", "step"]
    for key, g in curves.groupby(keys, sort=False):
        scores = g["score"].to_numpy(dtype=float)
        scores = scores[np.isfinite(scores)]
        mean, lo, hi = mean_ci(scores) if len(scores) else (math.nan, math.nan, math.nan)
        rows.append({**dict(zip(keys, key)), "fraction": float(g["fraction"].mean()), "n": len(scores),
                     "mean": float(mean), "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows)


def _score_label(configs: Iterable[dict[str, Any]]) -> str:
    """Y-axis label naming the score's unit, read from the runs' ``metric_info`` (runner config)."""
    kinds = set()
    for cfg in configs:
        for info in (cfg.get("metric_info") or {}).values():
            if isinstance(info, dict) and info.get("name") in ("deletion", "insertion"):
                score = (info.get("config") or {}).get("score")
                if score:
                    kinds.add(str(score))
    units = {"logit": "class logit", "probability": "class probability"}
    if not kinds:  # runs that do not record it used the default target, the class logit
        return "target score (class logit)"
    return "target score (" + " / ".join(units.get(k, k) for k in sorted(kinds)) + ")"


def _palette(methods: Sequence[str]) -> dict[str, Any]:
    name = "tab10" if len(methods) <= 10 else "tab20" if len(methods) <= 20 else "husl"
    colours = sns.color_palette(name, len(methods))
    return dict(zip(methods, colours))


@_styled(1.1)
def curves_figure(tables: RunTables) -> Figure:
    """Deletion/insertion curves per method (mean line, 95 % CI band); one row per model."""
    if tables.curves.empty:
        raise DataError("the runs hold no deletion/insertion curves (run the deletion or insertion metric)")
    summary = curve_summary(tables.curves)
    models = list(dict.fromkeys(summary["model"]))
    kinds = [k for k in ("deletion", "insertion") if k in set(summary["curve"])]
    methods = list(dict.fromkeys(summary["method"]))
    palette = _palette(methods)
    fig = Figure(figsize=(5.2 * len(kinds), 3.8 * len(models)))
    axes = fig.subplots(len(models), len(kinds), squeeze=False, sharex=True)
    ylabel = _score_label(tables.configs)
    for i, model in enumerate(models):
        for j, kind in enumerate(kinds):
            ax = axes[i][j]
            part = summary[(summary["model"] == model) & (summary["curve"] == kind)]
            for method in methods:
                m = part[part["method"] == method].sort_values("fraction")
                if m.empty:
                    continue
                ax.plot(m["fraction"], m["mean"], color=palette[method], label=method, lw=1.6)
                ax.fill_between(m["fraction"], m["ci_low"], m["ci_high"], color=palette[method], alpha=0.18, lw=0)
            what = "removed (most relevant first)" if kind == "deletion" else "inserted (most relevant first)"
            better = "lower area is better ↓" if kind == "deletion" else "higher area is better ↑"
            ax.set_title(f"{kind} — {model}\n{better}", fontsize=10)
            ax.set_xlabel(f"fraction of the image {what}")
            ax.set_ylabel(ylabel)
            ax.set_xlim(0.0, 1.0)
    legend: dict[str, Any] = {}
    for ax in axes.flat:  # every method once, even if the first panel lacks some
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    handles, labels = [legend[m] for m in methods if m in legend], [m for m in methods if m in legend]
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), title="method (mean, 95 % CI band)",
               frameon=False)
    fig.tight_layout()
    return fig


@_styled(1.0)
def metrics_figure(
    summary: pd.DataFrame, *, metrics: Sequence[str] | None = None, col_wrap: int = 4, reference: Iterable[str] = (),
) -> Figure:
    """Point plots: one panel per metric, mean with 95 % CI error bars per method (hue = model).

    Args:
        summary: :func:`attrbench.export.summarise` output.
        metrics: panels in this order (default: all).
        col_wrap: panels per row.
        reference: reference rows (oracle, random, ...): their tick labels are grey and marked "(ref.)".
    """
    reference = set(reference)
    metrics = list(metrics) if metrics is not None else list(dict.fromkeys(summary["metric"]))
    if not metrics:
        raise DataError("no metrics to plot")
    methods = list(dict.fromkeys(summary["method"]))
    models = list(dict.fromkeys(summary["model"]))
    palette = _palette(models)
    ncols = min(col_wrap, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    width = max(3.6, 0.42 * len(methods) + 1.4)
    fig = Figure(figsize=(width * ncols, 3.6 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    offsets = np.linspace(-0.25, 0.25, len(models)) if len(models) > 1 else np.zeros(1)
    x = np.arange(len(methods))
    for k, metric in enumerate(metrics):
        ax = axes[k // ncols][k % ncols]
        part = summary[summary["metric"] == metric]
        hib = bool(part["higher_is_better"].iloc[0])
        for off, model in zip(offsets, models):
            m = part[part["model"] == model].set_index("method").reindex(methods)
            ok = m["mean"].notna().to_numpy()
            err = np.vstack([(m["mean"] - m["ci_low"]).to_numpy(), (m["ci_high"] - m["mean"]).to_numpy()])
            ax.errorbar(x[ok] + off, m["mean"].to_numpy()[ok], yerr=np.nan_to_num(err[:, ok]), fmt="o",
                        color=palette[model], ms=4, capsize=2.5, lw=1.2, label=model)
        ax.set_xticks(x, [f"{m} (ref.)" if m in reference else m for m in methods], rotation=45, ha="right",
                      rotation_mode="anchor", fontsize=8)
        for tick, method in zip(ax.get_xticklabels(), methods):
            if method in reference:
                tick.set_color("0.5")
        ax.set_xlim(-0.6, len(methods) - 0.4)
        direction = "higher is better" if hib else "lower is better"
        ax.set_title(f"{metric} {ARROW[hib]}  ({direction})", fontsize=10)
        category = str(part["category"].iloc[0]) if "category" in part else ""
        ax.set_ylabel("seconds per sample" if category == "cost" else "value (mean, 95 % CI)")
    for k in range(len(metrics), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    if len(models) > 1:
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(models), 6),
                   title="model", frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 0.93))
    else:
        fig.tight_layout()
    return fig


def save_figure(fig: Figure, out: Path, stem: str, formats: Sequence[str], *, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``out/stem.<fmt>`` for each format (Agg for PNG, the PDF backend for PDF)."""
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad:
        raise OptionError(f"unknown figure formats {bad}; choose from {', '.join(FIGURE_FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        # fixed metadata: the same data gives the same PDF bytes (no creation date)
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    return paths


def write_report(
    runs: Sequence[str | Path],
    *,
    out: str | Path,
    formats: Sequence[str] = FIGURE_FORMATS,
    samples: Sequence[str] | None = None,
    device: str | None = None,
    data_root: str | None = None,
    model: str | None = None,
) -> list[Path]:
    """Write all figures for ``runs`` into ``out`` and return their paths.

    Args:
        runs: run directories.
        out: output directory.
        formats: subset of :data:`FIGURE_FORMATS`.
        samples: sample ids for the gallery (None: no gallery).
        device: device for recomputing gallery maps.
        data_root: overrides the run's data root for the gallery.
        model: overrides the run's model for the gallery (e.g. the checkpoint path the run used).
    """
    from attrbench.export import reference_methods, summarise

    out = Path(out)
    tables = load_tables(runs)
    from attrbench.runsets import declared_ranges

    summary = summarise(tables.records, ranges=declared_ranges(tables.configs), curves=tables.curves)
    from attrbench.references import declared_references

    reference = reference_methods(set(summary["method"])) | declared_references(tables.configs)
    paths = save_figure(metrics_figure(summary, reference=reference), out, "metrics", formats)
    if not tables.curves.empty:
        paths += save_figure(curves_figure(tables), out, "curves", formats)
    if samples:
        from attrbench.gallery import gallery_figure

        for run in runs:
            fig = gallery_figure(run, samples=samples, device=device, data_root=data_root, model=model)
            stem = "gallery" if len(runs) == 1 else f"gallery-{Path(run).name}"
            paths += save_figure(fig, out, stem, formats)
    return paths
