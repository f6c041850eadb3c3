"""What changed between two leaderboards: per model and metric, how the ranking of methods moved.

    python scripts/compare_leaderboards.py --old 67dd7f7:results/leaderboard/synthbirds.csv \\
        --new results/leaderboard/synthbirds.csv [--metrics gt_spearman,deletion_auc] [--out FILE]

``--old`` / ``--new`` are leaderboard tables (``<dataset>.csv`` or ``leaderboard.csv``, columns
model, method, metric, n, mean, higher_is_better, reference); ``REV:PATH`` reads the file as it
was at a git revision (``git show``). For every (model, metric) in both tables, over the methods
scored in both and not marked as reference rows: the images per method (n) in each, Kendall's
tau-b between the two rankings of the methods by mean (1: same order, 0: unrelated), the best three
methods in each, and the method whose rank moved most. Where the two leaderboards scored different
checkpoints under the same model name (re-trained models), the change mixes the protocol's and the
model's; the table cannot separate them. A normalised AUC with a raw companion in its table
(``insertion_auc`` next to ``insertion_auc_raw``) is ranked by the raw AUC, as attrbench's own
tests and rankings do (:func:`attrbench.raw_ranking.ranked_on_raw`); the first leaderboard's AUCs were raw.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
from scipy.stats import kendalltau


def read_table(source: str) -> pd.DataFrame:
    """A leaderboard csv from a path, or from ``REV:PATH`` at a git revision."""
    path = Path(source)
    if path.is_file():
        return pd.read_csv(path)
    rev, sep, inner = source.partition(":")
    if not sep:
        raise FileNotFoundError(f"{source}: no such file (use REV:PATH for a file at a git revision)")
    text = subprocess.run(["git", "show", f"{rev}:{inner}"], check=True, capture_output=True, text=True).stdout
    return pd.read_csv(io.StringIO(text))


def _ranked(table: pd.DataFrame, model: str, metric: str) -> pd.Series:
    from attrbench.raw_ranking import raw_companion

    raw = raw_companion(metric)  # a normalised AUC ranks by its raw AUC (attrbench.raw_ranking.ranked_on_raw)
    rows = table[(table.model == model) & (table.metric == (raw if raw in set(table.metric) else metric))]
    if "reference" in rows:
        rows = rows[~rows.reference.astype(bool)]
    rows = rows.dropna(subset=["mean"])
    sign = 1.0 if bool(rows.higher_is_better.iloc[0]) else -1.0
    return (sign * rows.set_index("method")["mean"]).sort_values(ascending=False)


def compare(old: pd.DataFrame, new: pd.DataFrame, *, metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per (model, metric) in both tables; see the module docstring for the columns."""
    rows = []
    for model in sorted(set(old.model) & set(new.model)):
        shared = sorted(set(old[old.model == model].metric) & set(new[new.model == model].metric))
        for metric in [m for m in shared if metrics is None or m in metrics]:
            a, b = _ranked(old, model, metric), _ranked(new, model, metric)
            methods = [m for m in a.index if m in b.index]
            if len(methods) < 3:
                continue
            a, b = a[methods].sort_values(ascending=False), b[methods].sort_values(ascending=False)
            tau = kendalltau(a[methods].to_numpy(), b[methods].to_numpy()).statistic
            rank_a = {m: i + 1 for i, m in enumerate(a.index)}
            rank_b = {m: i + 1 for i, m in enumerate(b.index)}
            mover = max(methods, key=lambda m: (abs(rank_a[m] - rank_b[m]), m))
            n_old = int(old[(old.model == model) & (old.metric == metric)].n.max())
            n_new = int(new[(new.model == model) & (new.metric == metric)].n.max())
            rows.append({
                "model": model, "metric": metric, "methods": len(methods), "n_old": n_old, "n_new": n_new,
                "kendall_tau": round(float(tau), 3), "top3_old": ", ".join(a.index[:3]), "top3_new": ", ".join(b.index[:3]),
                "largest_move": f"{mover} {rank_a[mover]} -> {rank_b[mover]}",
            })  # fmt: skip
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="the earlier table: a csv path or REV:PATH")
    parser.add_argument("--new", required=True, help="the later table: a csv path or REV:PATH")
    parser.add_argument("--metrics", default=None, help="comma-separated metrics (default: every shared one)")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)
    table = compare(read_table(args.old), read_table(args.new),
                    metrics=None if args.metrics is None else args.metrics.split(","))  # fmt: skip
    if table.empty:
        print("no (model, metric) with at least 3 methods in both tables", file=sys.stderr)
        return 1
    from attrbench.leaderboard_tables import markdown_table

    # the header is the command that re-makes this exact table (options that change it included)
    header = f"# python scripts/compare_leaderboards.py --old {args.old} --new {args.new}" + (
        f" --metrics {args.metrics}" if args.metrics is not None else "")
    text = "\n".join([header, "", *markdown_table(table)]) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
