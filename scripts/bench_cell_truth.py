"""Cost of the cell truth on the shipped SynthBirds BagNets: forward passes and seconds per image.

For each model, explains the true class of ``--images`` SynthBirds test images (one every 20,
so several classes) with a black baseline and 8 x 8 cells, repeats ``--repeats`` times and prints
the masked images evaluated per image, the median seconds per image, whether the truth is exact,
its completeness error |sum phi - (f(x) - f(b))| and, when sampled, the median standard error
relative to the spread of the values.

    ATTRBENCH_CACHE=/tmp/abcache python scripts/bench_cell_truth.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> int:
    from attrbench.cell_truth import cell_truth
    from attrbench.models.zoo import load_model
    from attrbench.datasets.synthbirds import SynthBirds

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["bagnet9-synthbirds", "bagnet17-synthbirds", "bagnet33-synthbirds"])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--permutations", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, cell 8, black baseline")
    for name in args.models:
        model = load_model(name)
        h, w = model.spec.input_size
        data = SynthBirds(split="test", image_size=h)
        picks = [data[i * 20 % len(data)] for i in range(args.images)]
        images = torch.stack([s.image for s in picks])
        labels = torch.tensor([s.label for s in picks])
        seconds = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            truth = cell_truth(model, images, labels=labels, baseline=0.0, permutations=args.permutations,
                               max_batch=args.max_batch)  # fmt: skip
            seconds.append((time.perf_counter() - t0) / len(images))
        with torch.no_grad():
            gap = (model(images) - model(torch.zeros_like(images))).gather(1, labels.view(-1, 1))[:, 0].double()
        completeness = (truth.values.sum((1, 2)) - gap).abs().max().item()
        line = (f"{name}: {h}x{w}, grid {tuple(truth.values.shape[1:])}, exact={truth.exact}, "
                f"forwards/image={truth.forwards}, s/image median {statistics.median(seconds):.3f} "
                f"(all {', '.join(f'{s:.3f}' for s in seconds)}), completeness error {completeness:.2e}")  # fmt: skip
        if not truth.exact:
            rel = (truth.stderr.flatten(1).median(dim=1).values / truth.values.flatten(1).std(dim=1)).median().item()
            line += f", permutations={truth.permutations}, median SE / std(values) = {rel:.3f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
