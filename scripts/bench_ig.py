"""Integrated Gradients side by side: attrbench's IG at 2 / 4 / 8 / 16 / 32 quadrature steps per pass vs
Captum's own ``IntegratedGradients`` call (all steps in one pass), interleaved rounds, medians and
ranges, load average noted. The attributions are compared too (they differ by float reassociation).

    python scripts/bench_ig.py                          # embedded default model, batch 8, 32 steps
    python scripts/bench_ig.py --rounds 5 --batch 8 --steps 32
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def main() -> int:
    from captum.attr import IntegratedGradients as CaptumIG

    from attrbench.api import ClassLogit
    from attrbench.methods import get_method
    from attrbench.models.zoo import load_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bagnet17-synthbirds")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; load average before: {os.getloadavg()}")
    model = load_model(args.model)
    h, w = model.spec.input_size
    x = torch.rand(args.batch, 3, h, w, generator=torch.Generator().manual_seed(0))
    target = ClassLogit(torch.arange(args.batch) % model.spec.num_outputs)
    ig = get_method("ig")
    out: dict[str, torch.Tensor] = {}

    def ours(spp: int | None):  # noqa: ANN202
        def run() -> None:
            out[f"attrbench {spp} steps/pass"] = ig(model, spec=model.spec, n_steps=args.steps, steps_per_pass=spp)(x, target=target)

        return run

    def captum() -> None:
        xi = x.clone().requires_grad_(True)
        out["captum"] = CaptumIG(target.forward_func(model)).attribute(
            xi, baselines=0.0, additional_forward_args=target.per_sample, n_steps=args.steps, method="gausslegendre"
        ).detach()

    contenders = {"captum (all steps)": captum, **{f"attrbench {s} steps/pass": ours(s) for s in (2, 4, 8, 16, 32)}}
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(args.rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ref = times["captum (all steps)"]
    print(f"{args.model} {h}x{w}, batch {args.batch}, {args.steps} Gauss-Legendre steps, {args.rounds} interleaved rounds")
    for name, ts in times.items():
        r = [t / c for t, c in zip(ts, ref)]
        diff = float((out.get(name, out["captum"]) - out["captum"]).abs().max())
        print(f"{name:24s} median {statistics.median(ts):7.2f} s  range {min(ts):.2f}-{max(ts):.2f}  "
              f"/ captum: median {statistics.median(r):.3f} (range {min(r):.3f}-{max(r):.3f})  max |diff| {diff:.1e}")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
