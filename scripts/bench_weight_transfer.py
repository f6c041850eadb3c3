"""Weight transfer vs back-propagated ML Grad-CAM, each relative to one forward pass.

The claim (Chen et al., WACV 2020, arXiv 2001.06538; Faster-Grad-CAM's README: "> 10x faster"):
weight transfer explains an image "without back-propagation", so it costs about one forward pass
while Grad-CAM needs a backward too. Faster-Grad-CAM's 10x timed the back-propagated path
including the construction of its TF gradient graph on every call (docs/methods.md). Here every
path is pre-built (hooks registered per call, no graph compilation), so the comparison is per-image
work only, and every path is expressed in units of one plain forward pass of the same batch:

    forward         model(x) under no_grad: the unit
    transfer        mlgradcam-transfer: forward under no_grad + nearest centroid + weighted sum
    bp N=50 top-k   mlgradcam (default): one forward, gradients of 50 triplets w.r.t. A only
    bp N=1          mlgradcam with one triplet (the cheapest back-propagated map)
    bp full         one triplet, ``loss.backward()`` through the whole network (parameter grads
                    too), as hook-based libraries such as pytorch-grad-cam do

Methodology: batch sizes 1 and 32 (images of the unseen test classes, cycled), ``--rounds``
rounds after ``--warmup`` untimed ones; within a round every (batch size, path) is timed once, in
an order rotated from round to round (interleaved, so load drift hits every path alike). Per path
the table gives the median time per image and the median over rounds of (path / forward of the
same round and batch size), the ratio the issue asks for (transfer <= 1.2x one forward).

    python scripts/bench_weight_transfer.py [--model embed-synthbirds] [--rounds 30] [--threads 1]

Output: the report on stdout and in ``--out`` (default results/benchmarks/weight_transfer.txt) with
the command, time and machine on top, and beside it ``.json`` with the per-round times and the
summary, which ``attrbench experiment ml-gradcam`` reads to decide the speed claim
(:mod:`attrbench.experiments.ml_gradcam_claims`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Long: the benchmark end to end (set-up, the five paths, interleaved rounds, report) reads in order."""
    import torch

    from attrbench.api import collate
    from attrbench.datasets.synthbirds import SynthBirds
    from attrbench.device import resolve_device
    from attrbench.embedding.track import EmbeddingTrack
    from attrbench.hooks import capture_output
    from attrbench.machine import machine_info
    from attrbench.methods import get_method
    from attrbench.methods.cam import cam_from_weights
    from attrbench.methods.gradcam import gradcam_weights
    from attrbench.models.zoo import load_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="embed-synthbirds")
    p.add_argument("--data-root", default=None)
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="results/benchmarks/weight_transfer.txt",
                   help="report file (the command on top); the JSON goes beside it (.json)")
    args = p.parse_args(argv)
    command = shlex.join(["python", "scripts/bench_weight_transfer.py", *(sys.argv[1:] if argv is None else argv)])
    machine = machine_info()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = load_model(args.model, device=device)
    dataset = SynthBirds(root=args.data_root, split="test", classes="second_half", image_size=model.spec.input_size[0])
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    track = EmbeddingTrack()
    track.prepare(model=model, dataset=dataset, device=device, seed=0)
    transfer_cls = get_method("mlgradcam-transfer")
    transfer = transfer_cls(model, spec=model.spec, **track.method_kwargs(transfer_cls))
    bp50 = get_method("mlgradcam")(model, spec=model.spec, n_triplets=50, top_k=50)
    bp1 = get_method("mlgradcam")(model, spec=model.spec, n_triplets=1, top_k=None)
    layer = model.get_submodule(model.spec.cam_layer)

    def forward(x, target):  # noqa: ANN001, ANN202
        with torch.no_grad():
            return model(x)

    def full_backward(x, target):  # noqa: ANN001, ANN202
        model.zero_grad(set_to_none=True)
        with torch.enable_grad(), capture_output(layer) as acts:
            out = model(x)
            a = acts[0]
            a.retain_grad()
            first = target.triplets.positive[:, :1], target.triplets.negative[:, :1]
            target.triplets.per_triplet(out, *first).sum().backward()
        return cam_from_weights(a.detach(), gradcam_weights(a, a.grad))

    paths = {
        "forward": forward,
        "transfer": lambda x, t: transfer(x, target=t),
        "bp N=50 top-k": lambda x, t: bp50(x, target=t),
        "bp N=1": lambda x, t: bp1(x, target=t),
        "bp full": full_backward,
    }
    batches = {}
    for b in sizes:
        batch = collate([dataset[i % len(dataset)] for i in range(b)]).to(device)
        batches[b] = (batch.images, track.make_target(model=model, batch=batch))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    jobs = [(b, name) for b in sizes for name in paths]
    times: dict[tuple[int, str], list[float]] = {job: [] for job in jobs}
    for r in range(args.warmup + args.rounds):
        shift = r % len(jobs)
        for b, name in jobs[shift:] + jobs[:shift]:
            x, target = batches[b]
            sync()
            start = time.perf_counter()
            paths[name](x, target)
            sync()
            if r >= args.warmup:
                times[(b, name)].append((time.perf_counter() - start) / b)
    info = track.database_info["gradcam/triplet/K50"]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    lines = [f"# {command}   ({when}; {machine['cpu']}, {machine['logical_cpus']} CPUs, load average at start "
             f"{machine['load_average']}, at end {machine_info()['load_average']})",
             f"model {model.spec.name} (test Recall@1 {model.checkpoint_meta.get('metrics', {}).get('test_recall@1', float('nan')):.3f}), "
             f"images {tuple(x.shape[-2:])}, device {device}, threads {torch.get_num_threads()}, {args.rounds} rounds "
             f"(+{args.warmup} warm-up), database K={transfer.num_clusters_used} (build {info['build_seconds']:.1f} s, "
             f"cached={info['cached']})"]
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for b in sizes:
        lines.append(f"batch {b}:")
        summary[str(b)] = {}
        for name in paths:
            per_round = [t / f for t, f in zip(times[(b, name)], times[(b, "forward")])]
            q1, q3 = statistics.quantiles(per_round, n=4)[::2] if len(per_round) > 1 else (per_round[0],) * 2
            summary[str(b)][name] = {"ms_per_image": statistics.median(times[(b, name)]) * 1e3,
                                     "per_forward": statistics.median(per_round), "per_forward_q1": q1,
                                     "per_forward_q3": q3}
            lines.append(f"  {name:<14} median {summary[str(b)][name]['ms_per_image']:8.2f} ms/image   "
                         f"/ one forward: median {statistics.median(per_round):6.2f}x  (quartiles {q1:.2f}-{q3:.2f})")
    report = "\n".join(lines) + "\n"
    print(report, end="")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    payload = {"command": command, "when": when, "machine": machine, "model": model.spec.name,
               "rounds": args.rounds, "warmup": args.warmup, "summary": summary,
               "times": {str(b): {name: times[(b, name)] for name in paths} for b in sizes}}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
