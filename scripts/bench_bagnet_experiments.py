"""Estimate the run time of every ``attrbench experiment bagnet-*`` at its default scale from two small runs.

    python scripts/bench_bagnet_experiments.py [--dataset synthbirds] [--data-root DIR] [--small 5,10]
        [--only bagnet-errors,...] [--threads 1]

Runs each experiment with its default options and the shipped models of ``--dataset`` (as
``attrbench experiment bagnet-all`` would) on n1 and n2 images (``--small``) into a temporary
folder, measuring the CPU seconds of this process (``time.process_time``: other load on the
machine does not count). The two points give a cost per image and a fixed cost (model loading,
figures, bootstraps); the estimate at the experiment's default image count N is
fixed + N x per image. With ``--threads 2`` on an idle 2-core machine the wall time is at most the
one-thread CPU time. Prints one line per experiment.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time

import torch

from attrbench.experiments.bagnet import EXPERIMENT_MODULES
from attrbench.experiments.bagnet.options import split_names


def _run(name: str, *, dataset: str, data_root: str | None, n: int | None, out: str) -> tuple[float, int]:
    """(CPU seconds, image count) of one run of experiment ``name`` with its defaults."""
    module = importlib.import_module(EXPERIMENT_MODULES[name])
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    argv = ["--dataset", dataset, "--device", "cpu", "--out", out]
    argv += ["--data-root", data_root] if data_root else []
    argv += ["--n-images", str(n)] if n is not None else []
    args = parser.parse_args(argv)
    args.argv = ["experiment", name, *argv]
    start = time.process_time()
    module.main(args)
    return time.process_time() - start, int(args.n_images)


def main() -> int:
    """Measure and print the estimates."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthbirds")
    p.add_argument("--data-root", default=None)
    p.add_argument("--small", default="5,10", help="the two small image counts n1,n2 (default 5,10)")
    p.add_argument("--only", default=None, help="comma-separated experiments (default: all)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    n1, n2 = (int(v) for v in args.small.split(","))
    for name in split_names(args.only) or list(EXPERIMENT_MODULES):
        with tempfile.TemporaryDirectory() as tmp:
            _run(name, dataset=args.dataset, data_root=args.data_root, n=n1, out=f"{tmp}/warm")  # caches, imports
            t1, _ = _run(name, dataset=args.dataset, data_root=args.data_root, n=n1, out=f"{tmp}/a")
            t2, _ = _run(name, dataset=args.dataset, data_root=args.data_root, n=n2, out=f"{tmp}/b")
            parser = argparse.ArgumentParser()
            importlib.import_module(EXPERIMENT_MODULES[name]).add_arguments(parser)
            full = int(parser.parse_args([]).n_images)
        per_image = max(t2 - t1, 0.0) / (n2 - n1)
        fixed = max(t1 - n1 * per_image, 0.0)
        estimate = fixed + full * per_image
        print(f"{name}: {t1:.1f} s CPU at {n1} images, {t2:.1f} s at {n2}; per image {per_image:.2f} s, fixed "
              f"{fixed:.1f} s; estimate at the default {full} images: {estimate:.0f} s ({estimate / 60:.1f} min)",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
