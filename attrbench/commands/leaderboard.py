"""Run the embedded leaderboard: every classification method on the shipped BagNets, tables and plots.

Suite, metrics and outputs are described in ``attrbench/leaderboard.py`` and results/README.md.

Examples:
    attrbench leaderboard --out results/leaderboard --cifar10-root ../shared/data/cifar10
    attrbench leaderboard --n-samples 8 --datasets synthbirds --methods ig,gradcam --out /tmp/lb
    attrbench leaderboard --models bagnet33-synthbirds --resume   # one model per session, resumable
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
    parser.add_argument("--models", default=None,
                        help="comma-separated subset of the suite's models (default: all); a run per model, so "
                        "one model per session works, and a final --resume without --models assembles the tables")
    parser.add_argument("--methods", default=None,
                        help="comma-separated method specs (default: all classification methods)")
    parser.add_argument("--metrics", default=None,
                        help=f"comma-separated metric specs (default: {','.join(DEFAULT_METRICS)})")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gallery", type=int, default=4, help="samples per gallery (0: none)")
    parser.add_argument("--resume", action="store_true", help="continue unfinished run directories")


def _only_models(suite: dict[str, tuple[str, ...]], wanted: list[str]) -> dict[str, tuple[str, ...]]:
    """``suite`` restricted to the models ``wanted`` (datasets left without a model dropped)."""
    import difflib

    known = [m for models in suite.values() for m in models]
    for name in wanted:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise OptionError(f"--models: {name!r} is not in the suite{hint} (suite: {', '.join(known)})")
    kept = {d: tuple(m for m in models if m in wanted) for d, models in suite.items()}
    return {d: models for d, models in kept.items() if models}


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
    if args.models:
        suite = _only_models(suite, [m.strip() for m in args.models.split(",") if m.strip()])
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
