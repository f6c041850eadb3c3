"""One training step of the shipped BagNets in float32 and under bfloat16 autocast, side by side.

A step is what ``attrbench train`` runs per batch: forward, cross-entropy, backward, AdamW update
(``attrbench/train.py``). Rounds interleave the precisions; the script prints the median step time of
each and their ratio, with the thread count and load average, so the reason for ``--precision bf16``
in the shipped checkpoints' commands can be re-measured on any machine. On a CPU without native
bfloat16 (no AVX-512 BF16 / AMX) autocast still runs but may be slower than float32.

    python scripts/bench_train_step.py                      # bagnet17, width 16, 97 px, batch 64
    python scripts/bench_train_step.py --arch bagnet33 --size 65 --classes 10 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F


def main() -> int:
    from attrbench.models.zoo import build_arch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="bagnet17", help="bagnet9/17/33, resnet or vgg (default bagnet17)")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--size", type=int, default=97, help="input side in pixels (default 97)")
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round (default 5)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as in the training commands)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.arch} width {args.width}, "
          f"{args.size} px, batch {args.batch}; load average before: {os.getloadavg()}")
    kwargs = {"num_classes": args.classes, "width": args.width}
    if args.arch.startswith("bagnet"):
        kwargs["layers"] = (1, 1, 1, 1)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=gen)
    y = torch.randint(0, args.classes, (args.batch,), generator=gen)
    nets, optims = {}, {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        nets[precision] = build_arch(args.arch, kwargs).train()
        optims[precision] = torch.optim.AdamW(nets[precision].parameters(), lr=1e-3)

    def step(precision: str) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = F.cross_entropy(nets[precision](x).float(), y)
        optims[precision].zero_grad(set_to_none=True)
        loss.backward()
        optims[precision].step()

    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for precision in times:  # warm-up: oneDNN picks its kernels on the first calls
        step(precision)
    for _ in range(args.rounds):
        for precision in times:
            start = time.perf_counter()
            for _ in range(args.steps):
                step(precision)
            times[precision].append((time.perf_counter() - start) / args.steps)
    med = {p: statistics.median(v) for p, v in times.items()}
    for p, v in times.items():
        print(f"{p}: median {med[p] * 1000:.0f} ms/step (range {min(v) * 1000:.0f}-{max(v) * 1000:.0f}, {len(v)} rounds)")
    print(f"fp32 / bf16 = {med['fp32'] / med['bf16']:.2f}; load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
