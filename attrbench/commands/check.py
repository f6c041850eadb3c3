"""Check a run or a (changed) method against a stored baseline; exit 1 on a regression.

Examples:
    attrbench check --baseline baseline.json --run results/runs/new-run
    attrbench check --baseline baseline.json --method ig
    attrbench check --baseline baseline.json --method ig=mypkg.methods:MyIG

``--run`` compares the records of an existing run directory. ``--method`` re-runs methods with
the baseline's stored configuration (same model, dataset, samples, seed, metrics,
post-processing); ``NAME=module:Class`` evaluates an external class and compares it with the
baseline's entry NAME. Prints old, new, delta, tolerance and a verdict per metric; exit status
0 = no regression, 1 = regression or missing metric, 2 = bad input.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", required=True, help="baseline JSON written by 'attrbench baseline'")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", action="append", default=None, metavar="RUN",
                      help="run directory to compare (repeatable)")
    what.add_argument("--method", action="append", default=None, metavar="NAME[=module:Class]",
                      help="re-run this method with the baseline's configuration (repeatable)")
    parser.add_argument("--out", default=None,
                        help="run directory for --method re-runs (default: a temporary directory)")
    parser.add_argument("--device", default=None, help="device for re-runs (default: cuda if available)")
    parser.add_argument("--data-root", default=None, help="override the baseline's data root for re-runs")
    parser.add_argument("--model", default=None,
                        help="override the baseline's model for re-runs (e.g. the checkpoint path it was made with)")
    parser.add_argument("--diff-out", default=None, help="also write the diff table as CSV to this file")


def main(args: argparse.Namespace) -> int:
    import tempfile

    from attrbench.check import compare, format_diff, load_baseline, parse_method_arg, rerun
    from attrbench.export import load_records, write_table

    baseline = load_baseline(args.baseline)
    if args.run:
        result = compare(baseline, load_records(args.run))
    else:
        pairs = [parse_method_arg(m) for m in args.method]
        if args.out:
            records = rerun(baseline, pairs, out=args.out, device=args.device, data_root=args.data_root,
                                model=args.model)
        else:
            with tempfile.TemporaryDirectory(prefix="attrbench-check-") as tmp:
                records = rerun(baseline, pairs, out=tmp, device=args.device, data_root=args.data_root,
                                model=args.model)
        result = compare(baseline, records, methods=[name for name, _ in pairs])
    print(format_diff(result), end="")
    if args.diff_out:
        write_table(result.table.to_csv(index=False, float_format="%.6g"), args.diff_out)
    return 1 if result.failed else 0
