"""Side-by-side deletion-curve benchmarks (issue 17): attrbench vs Quantus vs bare forwards, and
exact incremental BagNet curves vs the tuned full re-forward.

All timings in one process, interleaved rounds (every contender once per round, in turn), medians
and ranges; the 1-minute load average is printed before and after (the machine may be shared).

Suites:
  generic      attrbench deletion with full forwards and the probed chunk (forward_batch="auto")
               vs Quantus 0.6.0 PixelFlipping (the same blocks: a block-constant map, all channels,
               features_in_step = one step's pixels) vs the bare forwards of the same images in
               the probed chunk and thread count. Quantus is an optional benchmark dependency:
               ``pip install quantus==0.6.0`` (never needed by attrbench itself; the suite is
               skipped with a message without it). ``--quantus-threads same`` gives Quantus the
               thread count attrbench's probe chose (then only the chunk sizes differ);
               ``--only`` with ``--log`` splits rounds over short invocations (docs/forward_batches.md).
  incremental  one 8 x 8 block per step at 224 px (785 curve points): engine="incremental" vs
               the tuned full re-forward (engine="full", forward_batch="auto"). The full
               re-forward of all 785 points would take minutes per round, so it is timed on the
               same code path with --full-steps points and scaled per curve point (its cost per
               point does not depend on which points are computed); on a loaded machine the
               incremental curve can be timed on its first --points points likewise (one window
               per point, so its cost per point is uniform too).

    python scripts/bench_curves.py --suite generic --model bagnet33-224 --images 4 --steps 16
    python scripts/bench_curves.py --suite generic --model bagnet17-synthbirds --images 4 --steps 16 --quantus-threads same
    python scripts/bench_curves.py --suite generic --model bagnet33-224 --images 4 --steps 16 --rounds 1 \
        --quantus-threads same --only quantus --log /tmp/q33.jsonl    # one contender per invocation
    python scripts/bench_curves.py --suite incremental --model bagnet33-224 --images 1 --points 197 --full-steps 4 --rounds 5
    python scripts/bench_curves.py --suite incremental --model bagnet9-224 --images 1 --full-steps 4 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import numpy as np
import torch


def _model(name: str) -> torch.nn.Module:
    """``bagnet{9,17,33}-224``: the official architecture, random weights (seed 0), eval mode."""
    from attrbench.api import ModelSpec
    from attrbench.models import bagnet9, bagnet17, bagnet33
    from attrbench.models.common import ImageModel
    from attrbench.models.zoo import load_model

    factories = {"bagnet9-224": bagnet9, "bagnet17-224": bagnet17, "bagnet33-224": bagnet33}
    if name not in factories:
        return load_model(name)
    torch.manual_seed(0)
    net = factories[name]()
    q = net.q
    spec = ModelSpec(name=name, input_size=(224, 224), num_outputs=1000, cam_layer="net.layer4", receptive_field=q)
    return ImageModel(net, spec=spec).eval()


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _rounds(contenders: dict[str, Callable[[], None]], rounds: int, *, verbose: bool = False) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        if verbose:
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()) + f" (load {_load()})", flush=True)
    return times


def _fmt(ts: list[float]) -> str:
    return f"median {statistics.median(ts):8.3f} s  range {min(ts):.3f}-{max(ts):.3f}"


def _ratio(a: list[float], b: list[float]) -> str:
    r = [x / y for x, y in zip(a, b)]
    return f"median {statistics.median(r):.3f}  range {min(r):.3f}-{max(r):.3f}"


def _inputs(model: torch.nn.Module, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h, w = model.spec.input_size
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(n, 3, h, w, generator=gen)
    images[:, :, 0, 0] = 0.0  # every image's minimum is 0: Quantus's "black" fill equals attrbench's zero fill
    blocks = torch.randn(n, 1, -(-h // 8), -(-w // 8), generator=gen)  # distinct block values
    maps = blocks.repeat_interleave(8, 2).repeat_interleave(8, 3)[:, :, :h, :w].contiguous()
    labels = torch.arange(n) % model.spec.num_outputs
    return images, maps, labels


def _quantus():  # noqa: ANN202  (the module, or None when it is not installed)
    """Quantus 0.6.0 with the two shims this benchmark needs, or None when it is not installed."""
    np.trapz = np.trapezoid  # numpy 2.4 removed np.trapz, which quantus 0.6.0 still imports
    try:
        import quantus
        import quantus.helpers.asserts as quantus_asserts
    except ImportError:
        return None
    # quantus 0.6.0 asserts that features_in_step divides H * W, but its steps run over the
    # C * H * W channel-broadcast features: one step of whole 8 x 8 blocks (all channels) is
    # 3 * 64 * blocks, which never divides H * W. Its evaluate_batch handles any step size
    # (ceil division), so the check alone is lifted for this benchmark.
    quantus_asserts.assert_features_in_step = lambda **kwargs: None
    return quantus


def _log_rounds(path: str, times: dict[str, list[float]], loads: tuple[str, str],
                curves: dict[str, list]) -> tuple[dict[str, list[float]], dict[str, list]]:  # fmt: skip
    """Append this invocation's round times (and curves) to the JSON-lines log ``path``.

    Returns every logged time per contender, in order (the k-th times of the contenders form
    round k), and the latest logged curve per contender.
    """
    import json
    import subprocess

    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(path, "a") as f:
        f.write(json.dumps({"at": stamp, "git": git, "load_before": loads[0], "load_after": loads[1], "times": times,
                            "curves": curves}) + "\n")  # fmt: skip
    merged: dict[str, list[float]] = {}
    latest: dict[str, list] = {}
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            for k, v in entry["times"].items():
                merged.setdefault(k, []).extend(v)
            latest.update(entry.get("curves", {}))
    return merged, latest


def generic(args: argparse.Namespace) -> None:
    """Long: one side-by-side protocol (set-up, three contenders, curve check, summary) read top to bottom."""
    quantus = _quantus()
    if quantus is None:
        print("quantus is not installed: skipped (pip install quantus==0.6.0; a benchmark dependency only)")
        return
    from attrbench.api import ClassLogit
    from attrbench.metrics.curve_engine import forward_plan
    from attrbench.metrics.perturbation import perturbation_curves, step_counts
    from attrbench.probe import cpu_threads

    model = _model(args.model)
    images, maps, labels = _inputs(model, args.images)
    h, w = images.shape[-2:]
    units = -(-h // 8) * -(-w // 8)
    counts = step_counts(units, args.steps)
    total = args.images * len(counts)
    t0 = time.perf_counter()
    # the plan perturbation_curves(forward_batch="auto") uses (probed once, cached on disk)
    chunk, threads = forward_plan(model=model, images=images, total=total, max_forward_batch=256, forward_batch="auto")
    print(f"probe (forward_batch='auto'): chunk {chunk}, threads {threads} ({time.perf_counter() - t0:.1f} s here; cached in $ATTRBENCH_CACHE/probe)")
    target = ClassLogit(labels)
    # quantus checks features_in_step against the attribution's own size: give it all channels
    a_np, x_np, y_np = maps.expand(-1, 3, -1, -1).numpy().copy(), images.numpy(), labels.numpy()
    pixels_per_step = 3 * 64 * -(-units // args.steps)
    pf = quantus.PixelFlipping(features_in_step=pixels_per_step, perturb_baseline="black", disable_warnings=True)
    bare_x = [images[torch.arange(c, min(c + chunk, total)) % args.images] for c in range(0, total, chunk)]

    def ours() -> torch.Tensor:
        return perturbation_curves(model=model, images=images, maps=maps, target=target, mode="deletion", steps=args.steps,
                                   engine="full", forward_batch="auto")[1]  # fmt: skip

    q_threads = threads if args.quantus_threads == "same" else (int(args.quantus_threads) if args.quantus_threads else None)

    def theirs() -> list:
        with cpu_threads(q_threads):
            return pf(model=model, x_batch=x_np, y_batch=y_np, a_batch=a_np, device="cpu", softmax=False,
                      channel_first=True, batch_size=args.images)  # fmt: skip

    @torch.no_grad()
    def bare() -> None:
        with cpu_threads(threads):
            for x in bare_x:
                model(x)

    out: dict[str, object] = {}
    contenders: dict[str, Callable[[], None]] = {
        "attrbench": lambda: out.__setitem__("attrbench", ours().numpy()),
        "quantus": lambda: out.__setitem__("quantus", theirs()),
    }
    if not args.no_bare:
        contenders["bare"] = bare
    if args.only:
        contenders = {k: v for k, v in contenders.items() if k in args.only.split(",")}
    qt = q_threads or torch.get_num_threads()
    print(f"{total} attrbench forwards ({len(counts)} points x {args.images} images) in chunks of {chunk} on {threads or torch.get_num_threads()} thread(s); "
          f"quantus {len(counts) - 1} forwards of {args.images} on {qt} thread(s); bare: attrbench's forwards alone; "
          "one warm-up forward, no warm-up round")  # fmt: skip
    with torch.no_grad(), cpu_threads(threads):
        model(images[:1])  # warm-up outside the timings (the probe may have come from the disk cache)
    load_before = _load()
    times = _rounds(contenders, args.rounds, verbose=True)
    curves = {k: np.asarray(v).tolist() for k, v in out.items()}
    if args.log:
        times, curves = _log_rounds(args.log, times, (load_before, _load()), curves)
        print(f"all rounds logged in {args.log} (this invocation's appended): {', '.join(f'{k} {len(v)}' for k, v in times.items())}")
    if "attrbench" in curves and "quantus" in curves:
        a, q = np.asarray(curves["attrbench"]), np.asarray(curves["quantus"])
        diff = float(np.abs(a[:, 1:] - q).max())
        print(f"curves: attrbench {a.shape} (unperturbed point included), quantus {q.shape}; max |difference| on shared points {diff:.2e}"
              " (both fill 0: every image has a 0 pixel, and quantus's 'black' is the image minimum)")  # fmt: skip
    for k, v in times.items():
        if v:
            print(f"{k:10s} {_fmt(v)}  ({len(v)} rounds)")
    if times.get("attrbench") and times.get("quantus"):
        print(f"attrbench / quantus        {_ratio(times['attrbench'], times['quantus'])}")
    if times.get("attrbench") and times.get("bare"):
        print(f"attrbench / bare forwards  {_ratio(times['attrbench'], times['bare'])}")


def incremental(args: argparse.Namespace) -> None:
    from attrbench.api import ClassLogit
    from attrbench.metrics.curve_engine import forward_chunk, incremental_outputs
    from attrbench.metrics.perturbation import fill_images, perturbation_curves, step_counts, unit_ranks

    model = _model(args.model)
    images, maps, labels = _inputs(model, args.images)
    h, w = images.shape[-2:]
    units = -(-h // 8) * -(-w // 8)
    fine = step_counts(units, units)  # one block per step
    prefix = fine[: args.points] if args.points else fine
    k_full = len(step_counts(units, args.full_steps))
    target = ClassLogit(labels)
    ranks, _ = unit_ranks(maps, unit=8)
    fill_x = fill_images(images, fill="zero")
    t0 = time.perf_counter()
    forward_chunk(model=model, images=images, total=args.images * k_full, max_forward_batch=256, forward_batch="auto")
    print(f"probes (full size and window size) took {time.perf_counter() - t0:.1f} s; cached in $ATTRBENCH_CACHE/probe")

    def inc() -> torch.Tensor:
        return incremental_outputs(engine="incremental", model=model, images=images, fill_x=fill_x, ranks=ranks, unit=8,
                                   counts=prefix, mode="deletion", max_forward_batch=256, forward_batch="auto")  # fmt: skip

    def full() -> torch.Tensor:
        return perturbation_curves(model=model, images=images, maps=maps, target=target, mode="deletion",
                                   steps=args.full_steps, engine="full", forward_batch="auto")[1]  # fmt: skip

    inc()  # probes the window chunk
    out: dict[str, torch.Tensor] = {}

    def keep(name: str, fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        return lambda: out.__setitem__(name, fn())

    times = _rounds({"incremental": keep("inc", inc), "full": keep("full", full)}, args.rounds, verbose=True)
    logits = out["inc"][torch.arange(args.images), :, labels]  # (B, points)
    shared = [(i, fine.index(c)) for i, c in enumerate(step_counts(units, args.full_steps)) if fine.index(c) < len(prefix)]
    shared_counts = [fine[j] for _, j in shared]
    diff = max(float((logits[:, j] - out["full"][:, i]).abs().max()) for i, j in shared)
    scale = float(out["full"].abs().max())
    print(f"{args.model} at {h}x{w}, {args.images} image(s), deletion, zero fill, one 8x8 block per step ({len(fine)} curve points)")
    print(f"incremental timed on the first {len(prefix)} points; full re-forward on {k_full} points (steps={args.full_steps});")
    print(f"both scaled per curve point to the {len(fine)}-point curve. Shared points (blocks removed) {shared_counts}: max |diff| {diff:.2e} (|logit| <= {scale:.1f})")
    per_inc = [t * len(fine) / len(prefix) for t in times["incremental"]]
    per_full = [t * len(fine) / k_full for t in times["full"]]
    print(f"incremental, measured ({len(prefix)} points)    {_fmt(times['incremental'])}")
    print(f"full re-forward, measured ({k_full} points)     {_fmt(times['full'])}")
    print(f"incremental, {len(fine)}-point curve            {_fmt(per_inc)}")
    print(f"full re-forward, {len(fine)}-point curve        {_fmt(per_full)}")
    print(f"speed-up (full / incremental, per round)    {_ratio(per_full, per_inc)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=("generic", "incremental"), required=True)
    parser.add_argument("--model", default="bagnet33-224", help="bagnet{9,17,33}-224 (random weights) or a zoo name")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--full-steps", type=int, default=48, help="incremental suite: points of the timed full re-forward")
    parser.add_argument("--points", type=int, default=0, help="incremental suite: time this prefix of the curve (0 = all)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-bare", action="store_true", help="generic suite: skip the bare-forward contender")
    parser.add_argument("--quantus-threads", default=None, help="generic suite: CPU threads of Quantus's forwards: an int, or "
                        "'same' (the count attrbench's probe chose: compares chunk sizes alone); default torch's")
    parser.add_argument("--only", default=None, help="generic suite: run only these contenders (comma-separated: attrbench,quantus,bare); "
                        "with --log, a round can be split over invocations that each stay short")
    parser.add_argument("--log", default=None, help="generic suite: append the rounds to this JSON-lines file and summarise all "
                        "rounds in it (a long benchmark split into several invocations, each a few rounds)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}; load average before: {_load()}")
    generic(args) if args.suite == "generic" else incremental(args)
    print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
