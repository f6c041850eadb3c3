"""Check a run or a (changed) method against a stored baseline; exit 1 on a regression.

Examples:
    attrbench check --baseline baseline.json --run results/runs/new-run
    attrbench check --baseline baseline.json --method ig
    attrbench check --baseline baseline.json --method ig=mypkg.methods:MyIG

``--run`` compares the records of an existing run directory. ``--method`` re-runs methods with
the baseline's stored configuration (same model, dataset, samples, seed, metrics,
post-processing); ``NAME=module:Class`` evaluates an external class and compares it with the
baseline's entry NAME. Prints old, new, delta, tolerance and a verdict per metric; exit status
0 = no regression, 1 = regression, lost samples or missing metric, 2 = bad input (including a
``--run`` made with another config than the baseline's). A baseline never runs code by itself:
a ``module:attr`` model or dataset it names is imported only when given on the command line
(``--model``, ``--dataset``, ``--method NAME=module:Class``).
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
    parser.add_argument("--dataset", default=None,
                        help="override the baseline's dataset for re-runs (also how a module:Class dataset is allowed)")
    parser.add_argument("--max-lost-samples", type=int, default=0, metavar="N",
                        help="ok samples a row may lose against the baseline before it fails (default: 0)")
    parser.add_argument("--diff-out", default=None, help="also write the diff table as CSV to this file")


def main(args: argparse.Namespace) -> int:
    import tempfile

    from attrbench.baseline_schema import refuse_code_references
    from attrbench.check import check_run_configs, compare, format_diff, load_baseline, parse_method_arg, rerun
    from attrbench.export import load_tables, write_table
    from attrbench.options import non_negative_int

    max_lost = non_negative_int(args.max_lost_samples, option="--max-lost-samples")
    baseline = load_baseline(args.baseline)
    if args.run:
        check_run_configs(baseline, args.run)
        tables = load_tables(args.run)
        result = compare(baseline, tables.records, curves=tables.curves, max_lost_samples=max_lost)
    else:
        pairs = [parse_method_arg(m) for m in args.method]
        allowed = [v for v in (args.model, args.dataset, *(spec for _, spec in pairs)) if v]
        overridden = {"model": args.model, "dataset": args.dataset}
        stored = {k: v for k, v in baseline["config"].items() if not overridden.get(k)}
        refuse_code_references(stored, path=args.baseline, allowed=allowed, where="$.config")
        if args.out:
            records, curves = rerun(baseline, pairs, out=args.out, device=args.device, data_root=args.data_root,
                                    model=args.model, dataset=args.dataset)
        else:
            with tempfile.TemporaryDirectory(prefix="attrbench-check-") as tmp:
                records, curves = rerun(baseline, pairs, out=tmp, device=args.device, data_root=args.data_root,
                                        model=args.model, dataset=args.dataset)
        result = compare(baseline, records, curves=curves, methods=[name for name, _ in pairs],
                         max_lost_samples=max_lost)
    print(format_diff(result), end="")
    if args.diff_out:
        write_table(result.table.to_csv(index=False, float_format="%.6g"), args.diff_out)
    return 1 if result.failed else 0
