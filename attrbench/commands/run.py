"""Benchmark attribution methods: dataset x model x methods x metrics -> a run directory.

Examples:
    attrbench run --method ig                       # embedded default: bagnet17-synthbirds, SynthBirds test split
    attrbench run --methods ig,saliency,gradcam[layer=net.layer3] --metrics gt,deletion
    attrbench run --method ig --model mypkg.models:make --dataset masksfolder --data-root ./data
    attrbench run --method ig --out results/runs/my-run --resume   # continue a killed run
    attrbench run --method ig --model mypkg.models:make --dataset masksfolder --data-root ./photos \
        --image-size 224 --resize shorter-crop --memory-budget 4GB

Prints the summary (mean and 95 % t-interval per method x metric) and the run directory.
A sample, map or method that fails is recorded as failed (with the reason) and the run goes on.
Exit status: 0 when at least one record succeeded, 1 when none did, 2 for a user error (one
line naming the file or option). ``--out`` must be new, empty or a run directory (``--force``
writes into any folder); a second process on the same ``--out`` is refused while the first runs.
"""

from __future__ import annotations

import argparse
import sys

from attrbench.errors import OptionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from attrbench.runspec import DEFAULT_BATCH_SIZE, DEFAULT_MAX_FORWARD_BATCH, DEFAULT_N_SAMPLES

    parser.add_argument("--method", action="append", default=[], metavar="SPEC",
                        help="method name, name[key=value,...] or pkg.module:Class (repeatable)")
    parser.add_argument("--methods", default=None, metavar="A,B", help="comma-separated method specs")
    parser.add_argument("--model", default=None,
                        help="model name (attrbench list models), checkpoint path, or pkg.module:factory "
                        "(default: the track's, bagnet17-synthbirds)")
    parser.add_argument("--weights", default=None, metavar="PATH|URL",
                        help="weights for official models; for a pkg.module:factory, passed as its weights= argument")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE", dest="model_arg",
                        help="keyword argument of a pkg.module:factory model, typed by its signature (repeatable)")
    parser.add_argument("--dataset", default=None, help="dataset name (attrbench list datasets; default synthbirds)")
    parser.add_argument("--data-root", default=None, metavar="DIR", help="dataset root directory")
    parser.add_argument("--split", default="test", help="dataset split (default: test)")
    parser.add_argument("--metrics", default=None, metavar="A,B",
                        help="comma-separated metric specs, e.g. gt,deletion[steps=8] (default: all that apply)")
    parser.add_argument("--n-samples", type=int, default=DEFAULT_N_SAMPLES,
                        help=f"N samples of the split, chosen by --sampling (default: {DEFAULT_N_SAMPLES})")
    parser.add_argument("--sampling", choices=("stratified", "first"), default="stratified",
                        help="stratified: drawn by --seed, the classes in turn (default); first: the first N items")
    parser.add_argument("--target", choices=("true", "predicted"), default="true",
                        help="explain the true (labelled) class (default) or the model's predicted class")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"samples per batch (default: {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--max-forward-batch", type=int, default=DEFAULT_MAX_FORWARD_BATCH,
                        help=f"images per forward in deletion/insertion curves (default: {DEFAULT_MAX_FORWARD_BATCH})")
    parser.add_argument("--image-size", type=_image_size, default=None, metavar="N|HxW",
                        help="input size the images are brought to (default: the model's input size)")
    parser.add_argument("--resize", default="shorter-crop", choices=("shorter-crop", "squash", "pad"),
                        help="how images (and masks, boxes, parts) reach that size: resize the shorter side and "
                             "crop the centre (default, ImageNet convention), squash, or pad")
    parser.add_argument("--memory-budget", default=None, metavar="BYTES|FRACTION",
                        help="memory the internal batches may use: 4GB, 512MB, or a fraction of the available "
                             "memory such as 0.25 (default: 1/8 of the available memory on CPU, 0.6 of a GPU's free memory; "
                             "docs/memory.md)")
    parser.add_argument("--amp", action="store_true",
                        help="float16 autocast for methods and metrics (CUDA only; stored with the run)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None, dest="channels_last",
                        help="channels-last memory (default: on for attrbench's own architectures; speed only)")
    parser.add_argument("--forward-batch", default="auto", metavar="auto|max|N",
                        help="images per forward in curves: auto = measured per model, input size and device (cached, "
                             "in config.json); max = chunks of --max-forward-batch; N = that many (default: auto; speed only)")
    parser.add_argument("--threads", default="auto", metavar="auto|N", help="CPU threads: auto = the fastest count, "
                        "timed at the start (recorded in config.json); N = that many (default: auto; speed only)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if available)")
    parser.add_argument("--seed", type=int, default=0,
                        help="run seed: reaches every stochastic method and metric; a method's own "
                        "seed option (random[seed=3]) wins (default: 0)")
    parser.add_argument("--out", default=None, metavar="DIR", help="run directory (default: results/runs/<run-id>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out (or the newest matching run)")
    parser.add_argument("--postprocess", default=None, metavar="PRESET",
                        help="post-processing preset for every method: signed, magnitude, raw, captum, "
                        "pytorch-grad-cam, torchcam (`attrbench list postprocess`; default: each method's "
                        "declared preset, e.g. saliency -> magnitude, else signed)")
    parser.add_argument("--track", default="classification", help="classification or embedding (default: classification)")
    parser.add_argument("--force", action="store_true",
                        help="write into --out even if it is a non-empty folder that is not a run directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _image_size(text: str) -> int | tuple[int, int]:
    """``"224"`` -> 224, ``"160x224"`` -> (160, 224) (height x width)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {text!r}") from None
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive N or HxW, got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def main(args: argparse.Namespace) -> int:
    import pandas as pd

    from attrbench.results import load_run
    from attrbench.runner import RunConfig, run, split_specs

    methods = [spec for item in args.method for spec in split_specs(item)]
    if args.methods:
        methods += split_specs(args.methods)
    if not methods:
        raise OptionError("no method given; use --method NAME (see `attrbench list methods`)")
    given = {k: v for k, v in vars(args).items() if k in RunConfig.field_names()}
    from attrbench.models.factory import parse_model_args

    given.update(model_args=parse_model_args(args.model_arg), methods=methods, metrics=split_specs(args.metrics) if args.metrics else None, progress=not args.quiet)
    config = RunConfig(**given)
    result = run(config)
    data = load_run(result.path)
    summary = pd.read_csv(result.summary_path)
    failed = int((data.records["status"] == "failed").sum())
    table = summary.assign(
        dir=summary["higher_is_better"].map({True: "^", False: "v"}),
        ci=[f"[{lo:.4g}, {hi:.4g}]" for lo, hi in zip(summary["ci_low"], summary["ci_high"])],
    )[["method", "metric", "dir", "n", "mean", "ci", "ci_method"]]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    if failed:
        print(f"{failed} record(s) failed; see the 'error' column of records.parquet")
    from attrbench.phases import PhaseClock

    print("\n".join(PhaseClock.lines((result.read_config() or {}).get("phase_seconds", {}))))
    print(f"run directory: {result.path}")
    if not (data.records["status"] == "ok").any():  # exit 1 only when nothing succeeded (README)
        first = data.records["error"].iloc[0] if len(data.records) else "no records"
        print(f"attrbench: no record succeeded; the first error: {first}", file=sys.stderr)
        return 1
    return 0
