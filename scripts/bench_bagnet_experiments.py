"""Estimate the run time of every ``attrbench experiment bagnet-*`` with its default options.

    python scripts/bench_bagnet_experiments.py [--size 97] [--threads 1] [--repeats 3]

Measures, in CPU seconds of this process (``time.process_time``, so other load on the machine
does not inflate it), one forward of a batch of 50 images per model and one attribution per image
per method, for randomly initialised networks of the sizes the shipped checkpoints are trained at
(BagNet-9/17/33 width 16, blocks 1,1,1,1; ResNet width 16, stem stride 2; VGG width 16; 20
classes), then multiplies by the number of image-forwards each experiment makes with its default
options (derived from the experiment modules, not typed in). Prints one line per experiment.
The estimate is CPU seconds; with ``--threads 2`` on an idle 2-core machine wall time is at most that.
"""

from __future__ import annotations

import argparse
import time

import torch

from attrbench.api import ModelSpec
from attrbench.experiments.bagnet.interaction import DEFAULT_SQUARES, perturbation_sites
from attrbench.experiments.bagnet.scrambling import DEFAULT_TILES
from attrbench.experiments.bagnet.spatial_sensitivity import DEFAULT_METHODS, method_block_scores, steps_of
from attrbench.models.bagnet import BagNet
from attrbench.models.common import ImageModel
from attrbench.models.comparison import small_resnet, small_vgg


def _models(size: int) -> dict[str, ImageModel]:
    torch.manual_seed(0)
    out = {}
    for q in (9, 17, 33):
        spec = ModelSpec(name=f"bagnet{q}", input_size=(size, size), num_outputs=20, receptive_field=q,
                         cam_layer="net.layer4")  # fmt: skip
        out[f"bagnet{q}"] = ImageModel(BagNet(q, num_classes=20, width=16, layers=(1, 1, 1, 1)), spec=spec).eval()
    for name, net in (("resnet", small_resnet(20, width=16, stem_stride=2)), ("vgg", small_vgg(20, width=16))):
        spec = ModelSpec(name=name, input_size=(size, size), num_outputs=20, cam_layer="net.layer4" if name == "resnet"
                         else f"net.features.{len(net.features) - 2}")  # fmt: skip
        out[name] = ImageModel(net, spec=spec).eval()
    return out


def _cpu(fn, repeats: int) -> float:  # noqa: ANN001
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> int:
    """Measure and print the estimates.

    Long: over 60 lines because it lists the forward count of each of the six experiments next to
    each other, which reads best in one place.
    """
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=97)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    models = _models(args.size)
    x = torch.rand(50, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    per_image = {}
    with torch.no_grad():
        for name, m in models.items():
            per_image[name] = _cpu(lambda m=m: m(x), args.repeats) / len(x)
            print(f"forward {name}: {per_image[name] * 1e3:.2f} ms CPU per image")
    bag = [n for n in models if n.startswith("bagnet")]
    cmp = ["resnet", "vgg"]
    every = sum(per_image.values())
    sites = sum(len(perturbation_sites(height=args.size, width=args.size, q=int(q))) + 2
                for q in DEFAULT_SQUARES.split(","))  # fmt: skip
    tiles = len(DEFAULT_TILES.split(",")) + 1
    blocks = (args.size // 8) ** 2
    steps = len(steps_of(max_patches=32, step=2, blocks=blocks))
    method_cost = {}
    xs = x[:4]
    for name in cmp:
        for spec_text in DEFAULT_METHODS.split(","):
            cost = _cpu(lambda n=name, s=spec_text: method_block_scores(
                models[n], s, xs, torch.zeros(4, dtype=torch.long), seed=0, batch_size=4), 1) / len(xs)  # fmt: skip
            method_cost[(name, spec_text)] = cost
            print(f"method {spec_text} on {name}: {cost * 1e3:.1f} ms CPU per image")
    orders = len(bag) + len(DEFAULT_METHODS.split(",")) + 1
    spatial = sum(100 * (orders * steps * per_image[n] + sum(c for (m, _), c in method_cost.items() if m == n)
                         + sum(per_image[b] for b in bag)) for n in cmp)  # fmt: skip
    estimates = {
        "bagnet-interaction (60 images)": 60 * sites * every,
        "bagnet-logit-correlation (400 images)": 400 * every,
        "bagnet-scrambling (400 images)": 400 * tiles * every,
        "bagnet-errors (400 images)": 400 * every,
        "bagnet-spatial-sensitivity (100 images)": spatial,
        "bagnet-predictive-patches (400 images)": 400 * sum(per_image[b] for b in bag),
    }
    for name, seconds in estimates.items():
        print(f"{name}: {seconds:.0f} s CPU ({seconds / 60:.1f} min) in model evaluation")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
