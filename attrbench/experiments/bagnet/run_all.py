"""Run the six BagNet-paper experiments in turn, then write results/bagnet/README.md.

    attrbench experiment bagnet-all [--dataset synthbirds] [--out results/bagnet]
    attrbench experiment bagnet-all --readme-only       # rebuild README.md from the stored tables

Each experiment runs with its own defaults (image count, sizes; see its ``--help``) and the data and
model options given here; it writes into ``<out>/<folder>`` (:data:`FOLDERS`). ``--n-images``
given here overrides every experiment's default. The wall time of each experiment is kept in
``<out>/timings.json`` (the only output that differs between two runs with the same seed).
"""

from __future__ import annotations

import argparse
import importlib

from attrbench.experiments.bagnet import EXPERIMENT_MODULES

__all__ = ["FOLDERS", "add_arguments", "main"]

#: experiment -> its folder under ``--out`` (the paths :mod:`.readme` reads).
FOLDERS: dict[str, str] = {
    "bagnet-interaction": "interaction",
    "bagnet-logit-correlation": "logit_correlation",
    "bagnet-scrambling": "scrambling",
    "bagnet-errors": "errors",
    "bagnet-spatial-sensitivity": "spatial_sensitivity",
    "bagnet-predictive-patches": "predictive_patches",
}

#: options passed from ``bagnet-all`` to every experiment.
SHARED: tuple[str, ...] = ("dataset", "data_root", "split", "bagnets", "comparison", "seed", "device")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attrbench experiment bagnet-all``."""
    p.add_argument("--dataset", default="synthbirds")
    p.add_argument("--data-root", default=None, metavar="DIR")
    p.add_argument("--split", default="test")
    p.add_argument("--bagnets", default=None, metavar="NAMES", help="default: bagnet9/17/33-<dataset>")
    p.add_argument("--comparison", default=None, metavar="NAMES", help="default: resnet-<dataset>,vgg-<dataset>")
    p.add_argument("--n-images", type=int, default=None, help="override every experiment's image count")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="results/bagnet", metavar="DIR")
    p.add_argument("--only", default=None, metavar="NAMES", help="comma-separated subset, e.g. bagnet-errors")
    p.add_argument("--readme-only", action="store_true", help="only rebuild <out>/README.md from the stored tables")


def _experiment_args(name: str, args: argparse.Namespace) -> tuple[object, argparse.Namespace]:
    module = importlib.import_module(EXPERIMENT_MODULES[name])
    parser = argparse.ArgumentParser(prog=f"attrbench experiment {name}")
    module.add_arguments(parser)
    sub = parser.parse_args([])
    for key in SHARED:
        setattr(sub, key, getattr(args, key))
    if args.n_images is not None:
        sub.n_images = args.n_images
    sub.out = f"{args.out}/{FOLDERS[name]}"
    argv = ["experiment", name] + [f"--{k.replace('_', '-')}={getattr(sub, k)}" for k in (*SHARED, "n_images", "out")
                                   if getattr(sub, k) is not None]  # fmt: skip
    sub.argv = argv
    return module, sub


def main(args: argparse.Namespace) -> int:
    """Run the experiments (or only the README) and write the README."""
    from pathlib import Path

    from attrbench.errors import OptionError
    from attrbench.experiments.bagnet.common import split_names
    from attrbench.experiments.bagnet.readme import build_readme
    from attrbench.export import write_table

    names = split_names(args.only) or list(EXPERIMENT_MODULES)
    unknown = [n for n in names if n not in EXPERIMENT_MODULES]
    if unknown:
        raise OptionError(f"--only: unknown experiments {unknown}; choose from {', '.join(EXPERIMENT_MODULES)}")
    if not args.readme_only:
        import json
        import time

        timings_path = Path(args.out) / "timings.json"
        timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
        for name in names:
            module, sub = _experiment_args(name, args)
            print(f"== {name}", flush=True)
            started = time.perf_counter()
            module.main(sub)  # type: ignore[attr-defined]
            timings[name] = round(time.perf_counter() - started, 1)
            print(f"== {name}: {timings[name]:.0f} s wall", flush=True)
            timings_path.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n")
    write_table(build_readme(Path(args.out)), Path(args.out) / "README.md")
    return 0
