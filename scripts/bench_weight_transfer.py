"""Weight transfer vs back-propagated ML Grad-CAM, per image, side by side in one run.

Chen et al. (WACV 2020, arXiv 2001.06538) and Faster-Grad-CAM claim that transferring channel
weights from a k-means database (one forward, no backward) is much faster than computing them by
back-propagation. Faster-Grad-CAM's timer included building the TF gradient graph on every call
(docs/methods.md, Faster-Grad-CAM); here every back-propagated path is *pre-built* (hooks registered once per
call, no graph compilation, warm-up calls excluded) so that only the per-image work is compared.

Per image (batch size 1), in interleaved order, the median wall time of:
    transfer        mlgradcam-transfer: forward under no_grad + nearest centroid + weighted sum
    bp N=50 top-k   mlgradcam (default): one forward, gradients of 50 triplets w.r.t. A only
    bp N=1          mlgradcam with one triplet (the cheapest back-propagated map)
    bp full         one triplet, ``loss.backward()`` through the whole network (parameter grads
                    too), as hook-based libraries such as pytorch-grad-cam do

    python scripts/bench_weight_transfer.py [--model embed-synthbirds] [--images 40] [--threads 1]

Prints the medians and the ratios back-propagated / transfer (the papers' target: >= 10x).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    import torch

    from attrbench.datasets.synthbirds import SynthBirds
    from attrbench.device import resolve_device
    from attrbench.methods.cam import cam_from_weights
    from attrbench.methods.gradcam import gradcam_weights
    from attrbench.embedding.track import EmbeddingTrack
    from attrbench.hooks import capture_output
    from attrbench.methods import get_method
    from attrbench.models.zoo import load_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="embed-synthbirds")
    p.add_argument("--data-root", default=None)
    p.add_argument("--images", type=int, default=40)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = load_model(args.model, device=device)
    dataset = SynthBirds(root=args.data_root, split="test", classes="second_half",
                         image_size=model.spec.input_size[0])
    track = EmbeddingTrack()
    track.prepare(model=model, dataset=dataset, device=device, seed=0)
    transfer_cls = get_method("mlgradcam-transfer")
    t0 = time.perf_counter()
    transfer = transfer_cls(model, spec=model.spec, **track.method_kwargs(transfer_cls))
    db_seconds = time.perf_counter() - t0
    bp50 = get_method("mlgradcam")(model, spec=model.spec, n_triplets=50, top_k=50)
    bp1 = get_method("mlgradcam")(model, spec=model.spec, n_triplets=1, top_k=None)
    layer = model.get_submodule(model.spec.cam_layer)

    def full_backward(x, target):  # noqa: ANN001, ANN202
        model.zero_grad(set_to_none=True)
        with torch.enable_grad(), capture_output(layer) as acts:
            out = model(x)
            a = acts[0]
            a.retain_grad()
            target.triplets.subset(slice(0, 1)).score(out).sum().backward()
        return cam_from_weights(a.detach(), gradcam_weights(a, a.grad))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    from attrbench.api import collate

    paths = {
        "transfer": lambda x, t: transfer(x, target=t),
        "bp N=50 top-k": lambda x, t: bp50(x, target=t),
        "bp N=1": lambda x, t: bp1(x, target=t),
        "bp full": full_backward,
    }
    times: dict[str, list[float]] = {k: [] for k in paths}
    n = min(args.images, len(dataset))
    for i in range(n + args.warmup):
        batch = collate([dataset[i % len(dataset)]]).to(device)
        target = track.make_target(model=model, batch=batch)
        for name, fn in paths.items():
            sync()
            start = time.perf_counter()
            fn(batch.images, target)
            sync()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    info = track.database_info["gradcam/triplet/K50"]
    print(f"model {model.spec.name}, {n} images {tuple(batch.images.shape[-2:])}, device {device}, "
          f"threads {torch.get_num_threads()}; database K={transfer.num_clusters_used} "
          f"(build {info['build_seconds']:.1f} s, cached={info['cached']}, load {db_seconds:.2f} s)")
    for name, value in med.items():
        ratio = value / med["transfer"]
        print(f"  {name:<14} median {value * 1e3:8.2f} ms/image   ratio vs transfer {ratio:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
