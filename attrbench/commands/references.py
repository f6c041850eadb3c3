"""Regenerate the stored reference outputs of methods (tests/reference/<name>.pt) for the contract test.

Run this only when a method's numerics change on purpose, and commit the files with the change;
tests never write references.

Examples:
    attrbench references --write                 # every registered method
    attrbench references --write ig gradcam      # some methods
"""

from __future__ import annotations

import argparse
from pathlib import Path

from attrbench.errors import OptionError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="methods to write (default: all registered)")
    parser.add_argument("--write", action="store_true", help="write the reference files (required)")
    parser.add_argument("--dir", type=Path, default=None, help="output directory (default: tests/reference)")


def main(args: argparse.Namespace) -> int:
    from attrbench.testing.references import write_references

    if not args.write:
        raise OptionError("nothing done: pass --write to (re)write reference outputs")
    for path, shape in write_references(names=args.names or None, directory=args.dir):
        print(f"wrote {path} {shape}")
    return 0
