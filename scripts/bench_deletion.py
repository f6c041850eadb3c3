"""Overhead of the batched deletion curve over the bare model forwards it needs.

Times ``perturbation_curves`` (mask building, stacking, scoring) and, side by side in the same
process, the bare forwards of the same number of images in the same chunk sizes, alternating
the two ``--repeats`` times; prints the median ratio (target <= 1.10).

    python scripts/bench_deletion.py                          # the embedded default model
    python scripts/bench_deletion.py --model path/to/ckpt.pt --batch 16 --steps 16
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> int:
    from attrbench.api import ClassLogit
    from attrbench.metrics.perturbation import perturbation_curves, step_counts
    from attrbench.models.zoo import load_model
    from attrbench.runner import DEFAULT_BATCH_SIZE, DEFAULT_MAX_FORWARD_BATCH

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bagnet17-synthbirds")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH_SIZE, help="samples per batch")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--unit", type=int, default=8)
    parser.add_argument("--max-forward-batch", type=int, default=DEFAULT_MAX_FORWARD_BATCH)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load_model(args.model)
    h, w = model.spec.input_size
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(args.batch, 3, h, w, generator=gen)
    maps = torch.randn(args.batch, 1, h, w, generator=gen)
    target = ClassLogit(torch.zeros(args.batch, dtype=torch.long))
    units = -(-h // args.unit) * -(-w // args.unit)
    k = len(step_counts(units, args.steps))
    total = args.batch * k
    n_chunks = -(-total // args.max_forward_batch)
    size = -(-total // n_chunks)  # the same balanced chunks as perturbation_curves
    chunks = [min(size, total - s) for s in range(0, total, size)]
    bare_inputs = [torch.rand(n, 3, h, w, generator=gen) for n in chunks]

    def curve() -> None:
        perturbation_curves(model=model, images=images, maps=maps, target=target, mode="deletion",
                            unit=args.unit, steps=args.steps, max_forward_batch=args.max_forward_batch)  # fmt: skip

    @torch.no_grad()
    def bare() -> None:
        for x in bare_inputs:
            target.subset(slice(0, 0))  # same bookkeeping class, no work
            model(x)

    curve()
    bare()  # warm-up
    ratios, t_curve, t_bare = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        curve()
        t1 = time.perf_counter()
        bare()
        t2 = time.perf_counter()
        t_curve.append(t1 - t0)
        t_bare.append(t2 - t1)
        ratios.append((t1 - t0) / (t2 - t1))
    print(f"model {model.spec.name} {h}x{w}, batch {args.batch}, {k} curve points, {total} forwards in chunks {chunks[:3]}...")
    print(f"deletion curve: median {statistics.median(t_curve):.3f} s; bare forwards: median {statistics.median(t_bare):.3f} s")
    print(f"ratio (curve / bare forwards): median {statistics.median(ratios):.3f}  (all: {', '.join(f'{r:.3f}' for r in ratios)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
