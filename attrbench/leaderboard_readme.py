"""The leaderboard's generated README: command, times per run, skipped parts, the derived tables.

Written by :func:`attrbench.leaderboard.run_leaderboard` from its summary dict; the sections on
ceilings, meta-evaluation, fills that do not delete and seed stability come from
:mod:`attrbench.leaderboard_tables`.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["load_average", "write_readme"]


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def load_average() -> str:
    """The machine's 1, 5 and 15 min load averages, or "unknown"."""
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except (AttributeError, OSError):  # not available on every platform
        return "unknown"


def write_readme(out: Path, s: dict[str, Any], *, alpha: float) -> Path:
    """``out``/README.md from the leaderboard's summary dict ``s`` (:func:`attrbench.leaderboard.run_leaderboard`)."""
    import torch

    import attrbench
    from attrbench.export import write_table

    lines = [
        "# attrbench leaderboard (generated)",
        "",
        f"Written by `{s['command']}` on {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} "
        f"(attrbench {attrbench.__version__}, torch {torch.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}). Do not edit: re-run the command.",
        "",
        f"Samples per (dataset, model): {s['n_samples']}; seed {s['seed']}. "
        f"Measured wall time: **{s['total_seconds'] / 60:.1f} min** in total (runs, tables and figures); "
        f"CPU time of the process (all threads): {s['total_cpu_seconds'] / 60:.1f} min; "
        f"machine load average (1, 5, 15 min) at the end: {s['load_average']}. Wall time on a busy machine "
        "exceeds CPU time / cores.",
        "",
        "Per model: this command's wall and CPU time (seconds; a finished run is reused as stored, so "
        "it costs only the loading), and the run's own wall time as recorded in its config.json "
        "(`phase_seconds`), its thread count and when it finished:",
        "",
        "| dataset | model | wall time (s) | CPU time (s) | run's wall time (min) | threads | run finished |",
        "|:---|:---|---:|---:|---:|---:|:---|",
        *(f"| {t['dataset']} | {t['model']} | {t['seconds']:.1f} | {t['cpu_seconds']:.1f} | "
          f"{_minutes(t.get('run_seconds'))} | {t.get('threads') or '-'} | {t.get('finished') or '-'} |"
          for t in s["timings"]),
        "",
        "Methods: " + ", ".join(s["methods"]) + ".",
    ]
    if s["skipped_methods"]:
        lines += ["", "Not run here: " + "; ".join(f"{k} ({v})" for k, v in sorted(s["skipped_methods"].items())) + "."]
    if s["notes"]:
        lines += ["", "Notes:", *(f"- {n}" for n in s["notes"])]
    lines += _extras_lines(s.get("extras") or {})
    lines += [
        "",
        "Files:",
        "- `leaderboard.md|csv|tex`: headline metrics for every model (mean [95 % CI] over samples: Wilson "
        "for 0/1 values, seeded bootstrap inside the declared range otherwise; ↑/↓ direction; bold = every "
        f"method tied with the best: paired Wilcoxon signed-rank vs the best, Holm-corrected, alpha = {alpha:g}; "
        "(ref.) rows, e.g. Grad-CAM at the BagNet's last layer and the oracle, are never marked). "
        "`gt_*` = patch truth on the patch grid, `cellgt_*` = cell Shapley truth on the 8 px cell grid; "
        "`loc_*` (localisation) measures plausibility, not faithfulness. Normalised AUCs (`deletion_auc`, "
        "`insertion_auc`, `patch_deletion_auc`) are printed as the normalised AUC of the mean curve (ratio of "
        "means, bootstrap interval over images) and tested and ranked on their raw AUCs (see 'Fills that do not delete').",
        "- `<dataset>.md|csv|tex`: every recorded metric for one dataset.",
        "- `figures/<dataset>/`: `metrics` (point plots with 95 % CI), `curves` (deletion/insertion with "
        "95 % CI bands), `gallery` (image | ground truth | methods; maps recomputed from the run config).",
        "- `runs/<dataset>/<model>/`: the run directories all of the above are derived from.",
        "",
    ]
    return write_table("\n".join(lines), out / "README.md")


def _extras_lines(extras: dict[str, dict[str, Any]]) -> list[str]:
    """README sections: ceilings per family and the meta-evaluation table, per dataset."""
    import pandas as pd

    from attrbench.leaderboard_tables import TRUTH_METRIC, markdown_table, seed_stability_lines

    lines: list[str] = []
    for dataset, e in extras.items():
        if e.get("ceilings"):
            frame = pd.DataFrame(e["ceilings"]).T.reset_index().rename(columns={"index": "model"})
            lines += ["", f"## Ceilings per family ({dataset})", "",
                      "The best score a perfect map of each family reaches after the scoring rule "
                      "(attrbench.ceilings; mean over the first images of each run):", "",
                      *markdown_table(frame)]  # fmt: skip
        meta = e.get("meta")
        if meta is not None and len(meta):
            lines += ["", f"## Meta-evaluation ({dataset})", "",
                      f"Kendall tau between each proxy metric's ranking of the (non-reference) methods and the "
                      f"`{TRUTH_METRIC}` ranking, with a 95 % bootstrap interval over images (1 = same order):", "",
                      *markdown_table(meta)]  # fmt: skip
        fills = e.get("fills")
        if fills is not None and len(fills):
            lines += ["", f"## Fills that do not delete ({dataset})", "",
                      "Share of images whose fill scores at least as high as the image (f(fill) >= f(x), from the "
                      "curves' end points) and the median f(x) - f(fill). On those images the per-image normalised "
                      "AUC flips its direction or explodes, so tied-with-best tests, the meta-evaluation and the "
                      "seed stability rank normalised AUCs by their raw AUCs (the order of the ratio-of-means "
                      "normalisation; attrbench.raw_ranking.ranked_on_raw), and the tables print the ratio of "
                      "means, the normalised AUC of the mean curve (attrbench.raw_ranking.ratio_of_means):", "",
                      *markdown_table(fills)]  # fmt: skip
        lines += seed_stability_lines(dataset, e.get("seeds"))
    return lines
