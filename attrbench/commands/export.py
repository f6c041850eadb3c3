"""Export a methods x metrics table (mean and 95 % CI) from run directories.

Examples:
    attrbench export results/runs/ig-run --format markdown
    attrbench export runA runB --format latex --out table.tex
    attrbench export runA --format csv --metrics gt_spearman,deletion_auc --out table.csv

The table is computed from the runs' stored records (records.parquet). Arrows give each
metric's direction (↑ higher is better, ↓ lower is better); every method statistically tied with
the best of its column is bold (paired Wilcoxon signed-rank against the best, Holm-corrected,
``--alpha``, default 0.05; ``--single-best`` bolds only the best mean); reference rows (random,
sobel, oracle, ..., and ``--reference`` labels) are marked and never bold. With several models
the table has a model column. Several runs are never pooled: runs scoring the same method, model
and metric become row groups "model [run]". Every table shows n. LaTeX output uses booktabs
(\\usepackage{booktabs}).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    parser.add_argument("--format", dest="fmt", default="markdown", choices=("markdown", "latex", "csv"),
                        help="table format (default: markdown)")
    parser.add_argument("--out", default=None, help="output file (default: print to stdout)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metric columns in this order (default: all recorded)")
    parser.add_argument("--digits", type=int, default=3, help="decimals shown (default: 3)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="level of the Holm-corrected tied-with-best tests (default: 0.05)")
    parser.add_argument("--reference", default="",
                        help="comma-separated extra reference rows, never marked (e.g. the patch-grid gradcam); "
                             "registered references (oracle, random, sobel) always are")
    parser.add_argument("--ci", default="range", choices=("t", "range", "bootstrap"),
                        help="interval: range (Wilson for 0/1 values, else seeded bootstrap, in the declared range; "
                        "default), t (clipped to a metric's declared range) or bootstrap")
    parser.add_argument("--single-best", action="store_true",
                        help="bold only the best mean per column instead of the tied-with-best group")


def main(args: argparse.Namespace) -> int:
    from attrbench.export import load_tables, reference_methods, render, run_ranges, run_references, summarise, write_table
    from attrbench.stats import tied_with_best

    from attrbench.options import non_negative_int

    digits = non_negative_int(args.digits, option="--digits")
    tables = load_tables(args.runs)  # runs that share a key stay apart (attrbench.runsets)
    records = tables.records
    summary = summarise(records, ranges=run_ranges(args.runs), ci=args.ci, curves=tables.curves)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    reference = reference_methods(set(summary["method"])) | run_references(args.runs) | {m.strip() for m in args.reference.split(",") if m.strip()}
    tied = None if args.single_best else tied_with_best(records, alpha=args.alpha, reference=reference)
    text = render(summary, fmt=args.fmt, metrics=metrics, reference=reference, digits=digits,
                  tied=tied, alpha=args.alpha)
    if args.out:
        print(f"wrote {write_table(text, args.out)}")
    else:
        print(text, end="")
    return 0
