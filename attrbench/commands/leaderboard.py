"""Run the embedded leaderboard: every classification method on the shipped BagNets, tables and plots.

Suite, metrics and outputs are described in ``attrbench/leaderboard.py`` and results/README.md.

Examples:
    attrbench leaderboard --out results/leaderboard --cifar10-root ../shared/data/cifar10
    attrbench leaderboard --n-samples 8 --datasets synthbirds --methods ig,gradcam --out /tmp/lb
"""

from __future__ import annotations

import argparse

from attrbench.commands import command_line
from attrbench.errors import OptionError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from attrbench.leaderboard import DEFAULT_CIFAR10_ROOT, DEFAULT_METRICS, DEFAULT_N_SAMPLES, SUITE

    parser.add_argument("--n-samples", type=int, default=DEFAULT_N_SAMPLES,
                        help=f"samples per dataset and model, stratified over classes (default: {DEFAULT_N_SAMPLES}; "
                        "--n-samples 8 for a small run)")
    parser.add_argument("--ceiling-samples", type=int, default=8,
                        help="images per model for the ceilings per family in the README (0: none; default 8)")
    parser.add_argument("--out", default="results/leaderboard", help="output directory")
    parser.add_argument("--cifar10-root", default=DEFAULT_CIFAR10_ROOT,
                        help=f"CIFAR-10 image folder (default: {DEFAULT_CIFAR10_ROOT}; skipped when absent)")
    parser.add_argument("--datasets", default=None, help=f"comma-separated subset of {', '.join(SUITE)}")
    parser.add_argument("--methods", default=None,
                        help="comma-separated method specs (default: all classification methods)")
    parser.add_argument("--metrics", default=None,
                        help=f"comma-separated metric specs (default: {','.join(DEFAULT_METRICS)})")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gallery", type=int, default=4, help="samples per gallery (0: none)")
    parser.add_argument("--resume", action="store_true", help="continue unfinished run directories")


def main(args: argparse.Namespace) -> int:
    from attrbench.leaderboard import SUITE, run_leaderboard
    from attrbench.runspec import split_specs

    suite = dict(SUITE)
    if args.datasets:
        wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
        unknown = [d for d in wanted if d not in SUITE]
        if unknown:
            raise OptionError(f"--datasets: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(SUITE)}")
        suite = {d: SUITE[d] for d in wanted}
    summary = run_leaderboard(
        out=args.out, n_samples=args.n_samples, batch_size=args.batch_size, cifar10_root=args.cifar10_root,
        suite=suite, methods=split_specs(args.methods) if args.methods else None,
        metrics=split_specs(args.metrics) if args.metrics else None, device=args.device, seed=args.seed,
        gallery=args.gallery, resume=args.resume, ceiling_samples=args.ceiling_samples, command=command_line(args),
    )
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"wrote {len(summary['files'])} files to {args.out} in {summary['total_seconds'] / 60:.1f} min")
    return 0
