"""Plot a run's stored results: deletion/insertion curves, metric point plots, a heatmap gallery.

Examples:
    attrbench report results/runs/ig-run --out figures
    attrbench report runA runB --out figures --format png
    attrbench report results/runs/ig-run --out figures --samples 001.Class/img_0001.jpg,...
    attrbench report results/runs/ig-run --out figures --gallery 4

Curves and metric plots are drawn from records.parquet and curves.parquet only (mean and 95 %
CI over samples). Runs do not store attribution maps, so the gallery (image | ground truth |
each method) recomputes the maps of the chosen samples from the run's config (model, dataset,
methods and hyperparameters, post-processing, seed); this is deterministic.
"""

from __future__ import annotations

import argparse

from attrbench.errors import OptionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    parser.add_argument("--out", default="figures", help="output directory (default: figures)")
    parser.add_argument("--format", dest="formats", default="png,pdf",
                        help="comma-separated figure formats: png, pdf (default: png,pdf)")
    gallery = parser.add_mutually_exclusive_group()
    gallery.add_argument("--samples", default=None, help="comma-separated sample ids for the heatmap gallery")
    gallery.add_argument("--gallery", type=int, default=0, metavar="N",
                         help="gallery of the first N samples of the run (default: no gallery)")
    parser.add_argument("--device", default=None, help="device to recompute gallery maps (default: cuda if available)")
    parser.add_argument("--data-root", default=None, help="override the run's data root for the gallery")
    parser.add_argument("--model", default=None,
                        help="model for the gallery: the pkg.module:factory the run was given (a run never imports "
                        "code by itself; its stored --weights and --model-arg are used), or another checkpoint "
                        "(default: the run's stored model name or checkpoint path)")


def main(args: argparse.Namespace) -> int:
    from attrbench.report import write_report

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    samples = [s.strip() for s in args.samples.split(",") if s.strip()] if args.samples else None
    if args.gallery < 0:
        raise OptionError("--gallery must be >= 0")
    if args.gallery:
        from attrbench.export import load_records

        ids = list(dict.fromkeys(load_records(args.runs[:1])["sample_id"]))
        samples = ids[: args.gallery]
    paths = write_report(args.runs, out=args.out, formats=formats, samples=samples, device=args.device,
                         data_root=args.data_root, model=args.model)
    for path in paths:
        print(f"wrote {path}")
    return 0
