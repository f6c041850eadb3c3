"""Paper-ready tables from stored run records: methods x metrics, mean and 95 % CI.

Everything here is derived from ``records.parquet`` of one or more run directories (never from
in-memory state of a run). Per (model, method, metric) the successful per-sample values are
summarised by :func:`attrbench.results.summarise` — the function the runner uses for
``summary.csv`` — so a table and a run's summary agree. Failed samples are not averaged; their
count is kept in the ``n_failed`` column.

Layout: one row per method; one column per metric, its header carrying the direction (↑ higher
is better, ↓ lower is better); the best mean of each column (per model) in bold, or, when the
tied-with-best groups of :func:`attrbench.stats.tied_with_best` are given (``tied=``), every
method statistically tied with the best in bold and the test and alpha in the caption. Reference rows
(``MethodInfo.reference``: random, sobel, oracle, ...) are shown but never marked best, because an
oracle that is best by construction says nothing about the methods. With several models the table
gets a ``model`` column and rows are grouped by model. Every table shows ``n``, the number of
samples behind each mean (one number per row, or ``min–max`` when the metrics of a row differ).

Several runs are never pooled (:mod:`attrbench.runsets`): runs that share a (model, method, metric)
key become row groups of their own (``model [run]``); intervals of metrics with a declared bounded
range stay inside it (:func:`run_ranges`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from attrbench.errors import DataError, OptionError
from attrbench.results import summarise

__all__ = [
    "FORMATS",
    "best_mask",
    "tied_mask",
    "RunTables",
    "load_records",
    "load_tables",
    "run_ranges",
    "reference_methods",
    "run_references",
    "render",
    "summarise",
    "to_csv",
    "to_latex",
    "to_markdown",
    "write_table",
]

FORMATS: tuple[str, ...] = ("markdown", "latex", "csv")


class RunTables:
    """Records, curves and configs of one or more run directories (stored data only)."""

    def __init__(self, records: pd.DataFrame, curves: pd.DataFrame, configs: list[dict[str, Any]]) -> None:
        self.records = records
        self.curves = curves
        self.configs = configs


def load_tables(runs: Iterable[str | Path]) -> RunTables:
    """Records, curves and configs of the run directories ``runs`` (through ``attrbench.results``).

    Runs sharing a (model, method, metric) key get their run in the ``model`` column of both tables
    (:func:`attrbench.runsets.keep_runs_apart`), so they are summarised separately, never pooled.

    Raises:
        DataError: no run is given, or the runs hold no records.
    """
    from attrbench.results import load_run
    from attrbench.runsets import keep_runs_apart, run_labels

    datas = [load_run(run) for run in runs]
    if not datas:
        raise DataError("no run directory given")
    labels = run_labels([d.run_id for d in datas], [d.path.name for d in datas])
    records, curves = keep_runs_apart([d.records for d in datas], labels, [d.curves for d in datas])
    nonempty = [c for c in curves if len(c)]
    tables = RunTables(records=pd.concat(records, ignore_index=True),
                       curves=pd.concat(nonempty, ignore_index=True) if nonempty else curves[0],
                       configs=[dict(d.config) for d in datas])  # fmt: skip
    if tables.records.empty:
        raise DataError(f"the runs {', '.join(str(d.path) for d in datas)} hold no records")
    return tables


def load_records(runs: Iterable[str | Path]) -> pd.DataFrame:
    """The records of :func:`load_tables` (runs sharing a key kept apart)."""
    return load_tables(runs).records


def run_ranges(runs: Iterable[str | Path]) -> dict:
    """Declared bounded value ranges of the runs' metrics (:func:`attrbench.runsets.declared_ranges`)."""
    from attrbench.results import RunDir
    from attrbench.runsets import declared_ranges

    return declared_ranges([RunDir(run).read_config() or {} for run in runs])


def run_references(runs: Iterable[str | Path]) -> set[str]:
    """Method labels the runs declare as reference rows (:func:`attrbench.references.declared_references`)."""
    from attrbench.references import declared_references
    from attrbench.results import RunDir

    return declared_references([RunDir(run).read_config() or {} for run in runs])


def _n_text(summary: pd.DataFrame, model: str, method: str) -> str:
    """The samples behind a row's means: "48", or "40–48" when its metrics differ."""
    n = summary.loc[(summary["model"] == model) & (summary["method"] == method), "n"]
    if n.empty:
        return ""
    lo, hi = int(n.min()), int(n.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def reference_methods(names: Iterable[str]) -> set[str]:
    """Those of ``names`` whose registered ``MethodInfo.reference`` is true (unknown names: not)."""
    from attrbench.methods import get_method
    from attrbench.runspec import parse_spec

    out = set()
    for name in names:
        try:
            cls = get_method(parse_spec(name)[0])  # a label may carry options: "oracle[...]"
        except (KeyError, ImportError, AttributeError, TypeError, ValueError):
            continue  # an external method that is not importable here is simply not a reference row
        if cls.info.reference:
            out.add(name)
    return out


def best_mask(summary: pd.DataFrame, *, exclude: Iterable[str] = ()) -> pd.Series:
    """True where a row holds the best mean of its (model, metric) column (ties: all best)."""
    exclude = set(exclude)
    best = pd.Series(False, index=summary.index)
    for _, group in summary.groupby(["model", "metric"], sort=False):
        eligible = group[~group["method"].isin(exclude) & group["mean"].notna()]
        if eligible.empty:
            continue
        hib = bool(eligible["higher_is_better"].iloc[0])
        target = eligible["mean"].max() if hib else eligible["mean"].min()
        best.loc[eligible.index[eligible["mean"] == target]] = True
    return best


def tied_mask(summary: pd.DataFrame, tied: Mapping[tuple[str, str], Iterable[str]]) -> pd.Series:
    """True where a row's method is in the tied-with-best group of its (model, metric)."""
    return pd.Series(
        [r["method"] in set(tied.get((r["model"], r["metric"]), ())) for _, r in summary.iterrows()],
        index=summary.index, dtype=bool,
    )


def _ratio_note(summary: pd.DataFrame, metrics: Sequence[str]) -> str:
    """The caption's note on normalised AUCs summarised as a ratio of means (empty when none is shown)."""
    from attrbench.raw_ranking import RATIO_OF_MEANS

    shown = summary[summary["metric"].isin(metrics) & (summary["ci_method"] == RATIO_OF_MEANS)]
    names = ", ".join(dict.fromkeys(m.split("[", 1)[0] for m in shown["metric"]))
    undefined = " (–: undefined, the fill does not lower the mean score)" if shown["mean"].isna().any() else ""
    return f"; {names}: normalised AUC of the mean curve (ratio of means){undefined}, bootstrap CI over images" if names else ""


def _tied_note(alpha: float) -> str:
    return (f"bold: every method tied with the best (two-sided paired Wilcoxon signed-rank test against the best "
            f"over shared samples, Holm-corrected, alpha = {alpha:g}; normalised AUCs tested on their raw AUCs)")


def _marks(summary: pd.DataFrame, *, exclude: Iterable[str],
           tied: Mapping[tuple[str, str], Iterable[str]] | None) -> pd.Series:
    return best_mask(summary, exclude=exclude) if tied is None else tied_mask(summary, tied)


def _fmt(x: float, digits: int) -> str:
    if not math.isfinite(x):
        return "–"
    return f"{x:.{digits}f}"


def _grid(summary: pd.DataFrame, metrics: Sequence[str] | None) -> tuple[list[str], list[tuple[str, str]]]:
    if metrics is None:
        metrics = list(dict.fromkeys(summary["metric"]))
    else:
        unknown = [m for m in metrics if m not in set(summary["metric"])]
        if unknown:
            raise DataError(
                f"metrics {unknown} are not in the records; present: {sorted(set(summary['metric']))}"
            )
    rows = list(dict.fromkeys(zip(summary["model"], summary["method"])))
    return list(metrics), rows


def _directions(summary: pd.DataFrame) -> dict[str, bool]:
    return {m: bool(g["higher_is_better"].iloc[0]) for m, g in summary.groupby("metric", sort=False)}


def _cells(
    summary: pd.DataFrame, *, digits: int, exclude: Iterable[str], style: str,
    tied: Mapping[tuple[str, str], Iterable[str]] | None = None,
) -> dict[tuple[str, str, str], str]:
    best = _marks(summary, exclude=exclude, tied=tied)
    cells = {}
    for idx, r in summary.iterrows():
        mean, lo, hi = _fmt(r["mean"], digits), _fmt(r["ci_low"], digits), _fmt(r["ci_high"], digits)
        if style == "latex":
            mean = mean.replace("–", "--")
            text = f"\\textbf{{{mean}}}" if best[idx] else mean
            if math.isfinite(r["ci_low"]):
                text += f"\\,{{\\scriptsize [{lo}, {hi}]}}"
        else:
            text = f"**{mean}**" if best[idx] else mean
            if math.isfinite(r["ci_low"]):
                text += f" [{lo}, {hi}]"
        cells[(r["model"], r["method"], r["metric"])] = text
    return cells


def to_markdown(
    summary: pd.DataFrame, *, metrics: Sequence[str] | None = None, digits: int = 3,
    reference: Iterable[str] = (), tied: Mapping[tuple[str, str], Iterable[str]] | None = None, alpha: float = 0.05,
) -> str:
    """GitHub markdown table: ``mean [ci_low, ci_high]``, best (or ``tied`` group) in bold, ↑/↓ headers."""
    metrics, rows = _grid(summary, metrics)
    reference = set(reference)
    dirs = _directions(summary)
    cells = _cells(summary, digits=digits, exclude=reference, style="markdown", tied=tied)
    several = summary["model"].nunique() > 1
    header = (["model"] if several else []) + ["method", "n"] + [f"{m} {'↑' if dirs[m] else '↓'}" for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] * (len(header) - len(metrics))
                                                            + ["---:"] * len(metrics)) + "|"]
    for model, method in rows:
        name = f"{method} (ref.)" if method in reference else method
        row = ([model] if several else []) + [name, _n_text(summary, model, method)] + [
            cells.get((model, method, m), "") for m in metrics]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    bold = "bold: best per column" + (" and model" if several else "") if tied is None else _tied_note(alpha)
    lines.append(f"Mean over n samples [95 % CI]{_ratio_note(summary, metrics)}; ↑ higher is better, ↓ lower is "
                 f"better; {bold}; (ref.) rows are references, never marked best.")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL: dict[str, str] = {
    "\\": "\\textbackslash{}", "_": "\\_", "%": "\\%", "&": "\\&", "#": "\\#", "$": "\\$",
    "{": "\\{", "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def to_latex(
    summary: pd.DataFrame, *, metrics: Sequence[str] | None = None, digits: int = 3,
    reference: Iterable[str] = (), caption: str | None = None, label: str = "tab:attrbench",
    tied: Mapping[tuple[str, str], Iterable[str]] | None = None, alpha: float = 0.05,
) -> str:
    """A booktabs ``table`` (needs ``\\usepackage{booktabs}``): arrows, bold best, CI in brackets."""
    metrics, rows = _grid(summary, metrics)
    reference = set(reference)
    dirs = _directions(summary)
    cells = _cells(summary, digits=digits, exclude=reference, style="latex", tied=tied)
    several = summary["model"].nunique() > 1
    lead = (["Model"] if several else []) + ["Method", "$n$"]
    colspec = "l" * len(lead) + "r" * len(metrics)
    arrow = {True: "$\\uparrow$", False: "$\\downarrow$"}
    header = lead + [f"{_latex_escape(m)} {arrow[dirs[m]]}" for m in metrics]
    caption = caption or (
        "Mean over $n$ samples with 95\\,\\% confidence interval in brackets"
        + _latex_escape(_ratio_note(summary, metrics)) + "; $\\uparrow$ higher is better, "
        "$\\downarrow$ lower is better; "
        + ("best per column in bold" if tied is None else _tied_note(alpha).replace("alpha", "$\\alpha$"))
        + "; $^\\dagger$ reference rows are never marked best."
    )
    out = [
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{caption}}}",
        f"\\label{{{label}}}",
        f"\\begin{{tabular}}{{{colspec}}}",
        "\\toprule",
        " & ".join(header) + " \\\\",
        "\\midrule",
    ]
    previous = None
    for model, method in rows:
        if several and previous is not None and model != previous:
            out.append("\\midrule")
        name = _latex_escape(method) + ("$^\\dagger$" if method in reference else "")
        lead_cells = ([_latex_escape(model) if model != previous else ""] if several else []) + [
            name, _n_text(summary, model, method).replace("–", "--")]
        out.append(" & ".join(lead_cells + [cells.get((model, method, m), "") for m in metrics]) + " \\\\")
        previous = model
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(out) + "\n"


def to_csv(summary: pd.DataFrame, *, metrics: Sequence[str] | None = None, reference: Iterable[str] = (),
           tied: Mapping[tuple[str, str], Iterable[str]] | None = None) -> str:
    """Tidy CSV: one row per (model, method, metric) with n, mean, CI, how the CI was made (``ci_method``;
    "bootstrap, ratio of means" for a normalised AUC summarised from curves), direction and ``best``
    (the best mean, or membership of the ``tied`` group when given)."""
    metrics, _ = _grid(summary, metrics)
    table = summary[summary["metric"].isin(metrics)].copy()
    table["best"] = _marks(table, exclude=reference, tied=tied)
    table["reference"] = table["method"].isin(set(reference))
    cols = ["model", "method", "metric", "n", "n_failed", "mean", "ci_low", "ci_high", "ci_method",
            "higher_is_better", "category", "best", "reference"]
    return table[cols].to_csv(index=False, float_format="%.6g")


def render(summary: pd.DataFrame, *, fmt: str, metrics: Sequence[str] | None = None,
           reference: Iterable[str] = (), digits: int = 3,
           tied: Mapping[tuple[str, str], Iterable[str]] | None = None, alpha: float = 0.05) -> str:
    """The table in ``fmt`` (one of :data:`FORMATS`); ``tied`` (from :func:`attrbench.stats.tied_with_best`
    at ``alpha``) marks the tied-with-best groups instead of the single best mean."""
    if fmt == "markdown":
        return to_markdown(summary, metrics=metrics, reference=reference, digits=digits, tied=tied, alpha=alpha)
    if fmt == "latex":
        return to_latex(summary, metrics=metrics, reference=reference, digits=digits, tied=tied, alpha=alpha)
    if fmt == "csv":
        return to_csv(summary, metrics=metrics, reference=reference, tied=tied)
    raise OptionError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def write_table(text: str, out: str | Path) -> Path:
    """Write ``text`` atomically to ``out``.

    Raises:
        OptionError: ``out`` is an existing folder (the output is one file).
    """
    import os
    import tempfile

    from attrbench.errors import OptionError
    from attrbench.fileio import honour_umask

    out = Path(out)
    if out.is_dir():
        raise OptionError(f"--out {out} is a folder; give the name of the file to write (a path inside it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        honour_umask(tmp)  # mkstemp creates 0600
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
