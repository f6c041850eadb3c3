"""GPU figures of the default model: forward images/s by chunk, float32 vs --amp vs --channels-last.

Usage:
    python scripts/bench_gpu.py [--model NAME] [--rounds N] [--out FILE]

On a CUDA machine: for chunk sizes 1, 8, 32, 128 it times forwards (synchronised, best of
``--rounds`` interleaved rounds) of the model in float32, under float16 autocast (``--amp``) and in
channels-last memory format (``--channels-last``), and one IG attribution pass (8 images, 32 steps),
and prints images/s per setting with the ratio to float32. Without CUDA it prints that it skipped
and exits 0 (the CPU figures are in scripts/bench_curves.py and scripts/bench_default_run.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def _rate(model: torch.nn.Module, x: torch.Tensor, *, amp: bool) -> float:
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
        model(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(5):
            model(x)
        torch.cuda.synchronize()
    return 5 * x.shape[0] / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bagnet17-synthbirds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: skipped, no CUDA device on this machine (torch.cuda.is_available() is False)")
        return 0
    from attrbench.models.zoo import load_model

    device = torch.device("cuda")
    model = load_model(args.model, device=device)
    size = tuple(model.spec.input_size)
    lines = [f"# {args.model} {size}, {torch.cuda.get_device_name(device)}, torch {torch.__version__}, "
             f"best of {args.rounds} interleaved rounds"]  # fmt: skip
    best: dict[tuple[str, int], float] = {}
    for _ in range(args.rounds):
        for chunk in (1, 8, 32, 128):
            x = torch.rand(chunk, 3, *size, device=device)
            for name in ("float32", "amp", "channels_last"):
                net, xi = model, x
                if name == "channels_last":
                    net, xi = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
                rate = _rate(net, xi, amp=name == "amp")
                best[(name, chunk)] = max(best.get((name, chunk), 0.0), rate)
                model = model.to(memory_format=torch.contiguous_format)
    for chunk in (1, 8, 32, 128):
        base = best[("float32", chunk)]
        lines.append(f"chunk {chunk:4d}: " + "  ".join(f"{n} {best[(n, chunk)]:9.1f} img/s ({best[(n, chunk)] / base:4.2f}x)"
                                                      for n in ("float32", "amp", "channels_last")))  # fmt: skip
    from attrbench.api import ClassLogit
    from attrbench.methods import get_method

    ig = get_method("ig")(model, spec=model.spec)
    x = torch.rand(8, 3, *size, device=device)
    target = ClassLogit(model(x).argmax(1))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    ig(x, target=target)
    torch.cuda.synchronize()
    lines.append(f"ig (8 images, 32 steps): {time.perf_counter() - t0:.3f} s")
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
