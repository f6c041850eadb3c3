"""Store a CI baseline (per method x metric: mean, 95 % CI, n, direction, tolerance) from runs.

Examples:
    attrbench baseline results/runs/ig-run --out baseline.json
    attrbench baseline runA runB --out baseline.json --margin deletion_auc=0.02 --scale 1.5

The baseline keeps the configuration needed to re-run the evaluation (model, dataset,
n_samples, seed, metrics, post-processing, ...), so ``attrbench check --baseline baseline.json
--method NAME=module:Class`` can evaluate a changed method under the same conditions. Tolerance
per metric: max(scale x half-width of the 95 % CI, margin); runtime (category cost) never gates.
"""

from __future__ import annotations

import argparse

from attrbench.errors import OptionError


def _margins(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise OptionError(f"--margin expects METRIC=VALUE, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise OptionError(f"--margin {item!r}: {value!r} is not a number") from None
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories with one shared configuration")
    parser.add_argument("--out", required=True, help="baseline JSON file to write")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="tolerance = max(scale x CI half-width, margin) (default scale: 1.0)")
    parser.add_argument("--default-margin", type=float, default=None,
                        help="absolute margin for every metric (default: 0.01)")
    parser.add_argument("--margin", action="append", default=[], metavar="METRIC=VALUE",
                        help="absolute margin for one metric (repeatable)")


def main(args: argparse.Namespace) -> int:
    from attrbench.check import DEFAULT_MARGIN, make_baseline, save_baseline

    default = DEFAULT_MARGIN if args.default_margin is None else args.default_margin
    baseline = make_baseline(args.runs, scale=args.scale, margins=_margins(args.margin), default_margin=default)
    path = save_baseline(baseline, args.out)
    methods = sorted({e["method"] for e in baseline["entries"]})
    print(f"wrote {path}: {len(baseline['entries'])} entries for methods {', '.join(methods)} "
          f"on {baseline['config']['model']} / {baseline['config']['dataset']}")
    return 0
