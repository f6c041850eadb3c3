"""Write the table of shipped checkpoints (checkpoints.md and .csv) from the meta stored inside them.

Examples:
    attrbench checkpoints                      # rewrite results/checkpoints.md and .csv
    attrbench checkpoints --checkpoints my_checkpoints/ --out-dir /tmp/tables
    attrbench checkpoints --recompute          # ignore the cached truth mass / coverage
    attrbench checkpoints --list-commands synthbirds   # the recorded training commands
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoints", default=None, help="checkpoint folder (default: the shipped ones)")
    parser.add_argument("--out-dir", default="results", help="where to write the tables (default: results)")
    parser.add_argument("--list-commands", nargs="*", metavar="PATTERN", default=None,
                        help="print 'names<TAB>command' for each distinct recorded command (checkpoints whose name "
                             "contains a PATTERN; none: all) and write no table")
    parser.add_argument("--recompute", action="store_true",
                        help="recompute truth mass and coverage instead of reading <checkpoint>.derived.json")


def main(args: argparse.Namespace) -> int:
    from attrbench.checkpoint_table import recorded_commands, write_table

    if args.list_commands is not None:
        for names, command in recorded_commands(args.checkpoints, patterns=tuple(args.list_commands)):
            print(f"{names}\t{command}")
        return 0

    for path in write_table(directory=args.checkpoints, out_dir=args.out_dir, recompute=args.recompute):
        print(path)
    return 0
