"""Tables of the ``ml-gradcam`` experiment, derived from stored records only.

:func:`table_from_records`: one row per variant, mean and 95 % interval of each column (the
intervals of :func:`attrbench.results.summarise`).

:func:`comparisons_from_records`: the paper's claims and this project's questions as paired
comparisons (same images, first - second), tested as in the classification track
(:mod:`attrbench.stats`): a two-sided paired Wilcoxon signed-rank test per comparison, Holm's
correction over the whole family (every comparison x metric of one model), mean difference with a
95 % t-interval. Verdicts:

* "first better" / "second better": Holm-adjusted p < alpha, by the sign of the mean difference
  (and the metric's direction);
* "agrees within +-m": not significant *and* the whole 95 % interval lies inside (-m, +m), the
  equivalence margin m stated per metric (:data:`EQUIVALENCE_MARGINS`);
* "inconclusive": neither (an interval touching the margin or zero-width data is not agreement).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["COLUMNS", "COMPARISONS", "EQUIVALENCE_MARGINS", "comparisons_from_records", "comparisons_markdown",
           "table_from_records", "table_markdown", "verdict"]

#: (metric, column label, higher is better) of the table.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("loc_energy_mask", "energy in mask", True),
    ("loc_energy_box", "energy in box", True),
    ("loc_pointing_game", "pointing game", True),
    ("deletion_auc", "deletion AUC (similarity)", False),
    ("runtime_s", "runtime / image (ms)", False),
)

#: equivalence margins m (absolute units of the metric): a difference inside +-m is taken as
#: "no practical difference". 0.02 of energy in mask is 2 % of the map's positive energy; 0.02 of
#: the normalised deletion AUC is 2 % of the similarity drop f(x) - f(fill).
EQUIVALENCE_MARGINS: dict[str, float] = {"loc_energy_mask": 0.02, "deletion_auc": 0.02}

_GC = "mlgradcam[n_triplets=50,top_k=50]"
_GCPP = "mlgradcampp[n_triplets=50,top_k=50]"
#: (question, first spec, second spec).
COMPARISONS: tuple[tuple[str, str, str], ...] = (
    ("averaging helps (Grad-CAM)", "mlgradcam[n_triplets=50,top_k=none]", "mlgradcam[n_triplets=1,top_k=none]"),
    ("averaging helps (Grad-CAM++)", "mlgradcampp[n_triplets=50,top_k=none]", "mlgradcampp[n_triplets=1,top_k=none]"),
    ("top-k helps (Grad-CAM)", _GC, "mlgradcam[n_triplets=50,top_k=none]"),
    ("top-k helps (Grad-CAM++)", _GCPP, "mlgradcampp[n_triplets=50,top_k=none]"),
    ("transfer keeps quality (Grad-CAM)", "mlgradcam-transfer", _GC),
    ("transfer keeps quality (Grad-CAM++)", "mlgradcampp-transfer", _GCPP),
    ("Grad-CAM vs Grad-CAM++, 1 triplet", "mlgradcam[n_triplets=1,top_k=none]", "mlgradcampp[n_triplets=1,top_k=none]"),
    ("Grad-CAM vs Grad-CAM++, N + top-k", _GC, _GCPP),
    ("top-k by magnitude vs signed (Grad-CAM)", "mlgradcam[n_triplets=50,top_k=50,top_k_by=magnitude]", _GC),
    ("top-k by magnitude vs signed (Grad-CAM++)", "mlgradcampp[n_triplets=50,top_k=50,top_k_by=magnitude]", _GCPP),
    ("explain +L vs -L (Grad-CAM)", "mlgradcam[n_triplets=50,top_k=50,explain=loss]", _GC),
    ("explain +L vs -L (Grad-CAM++)", "mlgradcampp[n_triplets=50,top_k=50,explain=loss]", _GCPP),
    ("class proxy vs triplets (EmbeddingCAM vs ML Grad-CAM)", "embeddingcam", _GC),
    ("ML Grad-CAM vs random map", _GC, "random"),
)


def table_from_records(records, variants):  # noqa: ANN001, ANN201  (DataFrame, [(family, variant, spec)]) -> DataFrame
    """One row per variant: mean and 95 % interval of each column's metric (from stored records)."""
    import pandas as pd

    from attrbench.results import summarise

    summary = summarise(records)
    rows = []
    for family, variant, spec in variants:
        row: dict[str, Any] = {"method": family, "variant": variant, "spec": spec}
        for metric, label, _ in COLUMNS:
            hit = summary[(summary["method"] == spec) & (summary["metric"] == metric)]
            if hit.empty:
                row[label], row[label + " ci95"] = float("nan"), ""
                continue
            scale = 1000.0 if metric == "runtime_s" else 1.0
            mean, low, high = (float(hit[c].iloc[0]) * scale for c in ("mean", "ci_low", "ci_high"))
            row[label] = mean
            row[label + " ci95"] = f"[{low:.3f}, {high:.3f}]" if scale == 1.0 else f"[{low:.1f}, {high:.1f}]"
            row["n"] = int(hit["n"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(*, mean: float, low: float, high: float, p_holm: float, margin: float, higher_is_better: bool,
            alpha: float = 0.05) -> str:
    """The comparison's verdict (module docstring) from its interval and Holm-adjusted p-value."""
    if p_holm < alpha and mean != 0:
        return "first better" if (mean > 0) == higher_is_better else "second better"
    if -margin < low and high < margin:
        return f"agrees within +-{margin:g}"
    return "inconclusive"


def comparisons_from_records(records, *, metrics: tuple[str, ...] = ("loc_energy_mask", "deletion_auc"),  # noqa: ANN001, ANN201
                             alpha: float = 0.05, comparisons: tuple[tuple[str, str, str], ...] = COMPARISONS):
    """Paired differences (first - second), Wilcoxon p-values, Holm over the family, verdicts.

    Args:
        records: long records (method, sample_id, metric, value, status); the methods named by
            ``comparisons`` (absent ones are skipped).
        metrics: the metrics compared.
        alpha: family-wise level of the verdicts.
        comparisons: (question, first method, second method); default :data:`COMPARISONS`.
    """
    import pandas as pd

    from attrbench.stats import holm, mean_ci, paired_wilcoxon

    directions = {metric: hib for metric, _, hib in COLUMNS}
    rows = []
    for metric in metrics:
        ok = records[(records["metric"] == metric) & (records["status"] == "ok")]
        wide = ok.pivot_table(index="sample_id", columns="method", values="value", aggfunc="first")
        for claim, a, b in comparisons:
            if a not in wide or b not in wide:
                continue
            pair = wide[[a, b]].dropna()
            x, y = pair[a].to_numpy(dtype="float64"), pair[b].to_numpy(dtype="float64")
            mean, low, high = mean_ci(x - y)
            rows.append({"comparison": claim, "first": a, "second": b, "metric": metric, "n": int(x.size),
                         "mean_diff": mean, "ci_low": low, "ci_high": high, "p": paired_wilcoxon(x, y)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_holm"] = holm(table["p"].to_numpy())
    table["margin"] = [EQUIVALENCE_MARGINS.get(m, float("nan")) for m in table["metric"]]
    table["verdict"] = [
        verdict(mean=r.mean_diff, low=r.ci_low, high=r.ci_high, p_holm=r.p_holm, margin=r.margin,
                higher_is_better=directions[r.metric], alpha=alpha)
        for r in table.itertuples()
    ]
    return table


def table_markdown(table, *, header: str) -> str:  # noqa: ANN001
    cols = ["method", "variant"] + [label for _, label, _ in COLUMNS] + ["n"]
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in table.iterrows():
        cells = [row["method"], row["variant"]]
        for metric, label, _ in COLUMNS:
            value = row[label]
            fmt = "{:.1f}" if metric == "runtime_s" else "{:.3f}"
            cells.append(f"{fmt.format(value)} {row[label + ' ci95']}" if value == value else "n/a")
        cells.append(str(row.get("n", "")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparisons_markdown(comp, *, alpha: float = 0.05) -> str:  # noqa: ANN001
    lines = ["", f"Paired comparisons (first - second, same images): mean [95 % t-interval], two-sided paired "
                 f"Wilcoxon p, Holm-adjusted over all {len(comp)} rows, verdict at alpha {alpha} (\"agrees\" only "
                 "when the whole interval lies inside the stated margin):", "",
             "| comparison | metric | first | second | difference | p | p (Holm) | margin | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, r in comp.iterrows():
        lines.append(f"| {r['comparison']} | {r['metric']} | `{r['first']}` | `{r['second']}` | "
                     f"{r['mean_diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | {r['p']:.2g} | "
                     f"{r['p_holm']:.2g} | +-{r['margin']:g} | {r['verdict']} |")
    return "\n".join(lines) + "\n"
