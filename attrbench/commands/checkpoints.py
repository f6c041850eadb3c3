"""Write the table of shipped checkpoints (checkpoints.md and .csv) from the meta stored inside them.

Examples:
    attrbench checkpoints                      # rewrite results/checkpoints.md and .csv
    attrbench checkpoints --checkpoints my_checkpoints/ --out-dir /tmp/tables
    attrbench checkpoints --recompute          # ignore the cached truth mass / coverage
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoints", default=None, help="checkpoint folder (default: the shipped ones)")
    parser.add_argument("--out-dir", default="results", help="where to write the tables (default: results)")
    parser.add_argument("--recompute", action="store_true",
                        help="recompute truth mass and coverage instead of reading <checkpoint>.derived.json")


def main(args: argparse.Namespace) -> int:
    from attrbench.checkpoint_table import write_table

    for path in write_table(directory=args.checkpoints, out_dir=args.out_dir, recompute=args.recompute):
        print(path)
    return 0
