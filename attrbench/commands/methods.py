"""List attribution methods with their paper references and resolution.

Examples:
    attrbench methods               # every registered method (built-in and plug-ins)
    attrbench methods 'grad*'       # names matching a glob
    attrbench methods --long        # also the hyperparameters and their defaults
"""

from __future__ import annotations

import argparse

from attrbench.errors import OptionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", default=None, help="glob over method names, e.g. 'grad*'")
    parser.add_argument("--long", action="store_true", help="show hyperparameters and their defaults")


def main(args: argparse.Namespace) -> int:
    from attrbench.method_metadata import rows_for
    from attrbench.methods import list_methods

    names = list_methods(args.pattern)
    if not names:
        raise OptionError(f"no method matches {args.pattern!r}; run 'attrbench methods' to see all")
    table = rows_for(names)  # built-in methods from the static table: no torch import
    rows = [(n, table[n]["resolution"], table[n]["flags"], table[n]["paper"], table[n]["hyperparameters"]) for n in names]
    w_name = max(len("method"), *(len(r[0]) for r in rows))
    w_res = max(len("resolution"), *(len(r[1]) for r in rows))
    w_flags = max(len("flags"), *(len(r[2]) for r in rows))
    print(f"{'method':<{w_name}}  {'resolution':<{w_res}}  {'flags':<{w_flags}}  reference")
    for name, res, flags, paper, hyper in rows:
        print(f"{name:<{w_name}}  {res:<{w_res}}  {flags:<{w_flags}}  {paper}")
        if args.long and hyper:
            print(f"{'':<{w_name}}  {hyper}")
    return 0
