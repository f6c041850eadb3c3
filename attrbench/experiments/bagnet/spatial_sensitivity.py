"""Do BagNet heatmaps find what matters to other networks? Spatial sensitivity (Brendel & Bethge, ICLR 2019, Fig. 8).

    attrbench experiment bagnet-spatial-sensitivity [--dataset synthbirds] [--n-images 100]
        [--methods saliency,ig,deeplift,gradcam,occlusion] [--max-patches 32] [--step 2] [--fill mean]

For every comparison network m and image x, c = m's predicted class on x. The 8 x 8 blocks of x
(:mod:`attrbench.experiments.bagnet.masking`) are masked cumulatively in the order given by

(a) a BagNet's heatmap (black box for m): the BagNet's patch logits l_p(x)_c for m's class c,
    each spread evenly over its q x q receptive field (:func:`attrbench.geometry.place`), summed
    per block;
(b) an attribution method computed on m itself (white box), explaining m's logit of c, post-processed
    by the method's declared preset (``saliency``: max |.| over channels; others: signed sum over
    channels; layer maps such as Grad-CAM placed by their layer's receptive-field geometry), summed
    per block;
(c) a seeded random order.

The curve is m's probability of c after masking k blocks; the table gives the area under the drop
p_0 - p_k (k = 0 .. ``--max-patches`` in steps of ``--step``, divided by the largest k; larger is a
faster drop) with a seeded bootstrap 95 % interval over images, and paired differences of every
BagNet order against every method order (same images). Fill (``--fill``): "mean" (default) puts
the comparison network's normalisation mean, i.e. the data set's per-channel mean colour (0 after
normalisation), into a masked block; "black" puts 0.

Outputs (``--out``, default results/bagnet/spatial_sensitivity): spatial_sensitivity.{csv,md,tex},
paired.{csv,md,tex}, curves.csv (mean probability per k), spatial_sensitivity.{png,pdf}, command.txt.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from attrbench.errors import OptionError
from attrbench.experiments.bagnet.options import add_common_arguments

if TYPE_CHECKING:  # torch and numpy load inside the functions: ``attrbench --help`` must stay light
    import numpy as np
    import torch
    from torch import Tensor

    from attrbench.experiments.bagnet.common import Setup
    from attrbench.models.common import ImageModel

__all__ = ["DEFAULT_METHODS", "add_arguments", "bagnet_block_scores", "main", "method_block_scores", "steps_of"]

DEFAULT_METHODS = "saliency,ig,deeplift,gradcam,occlusion"
BLOCK = 8


def bagnet_block_scores(bagnet: ImageModel, images: Tensor, classes: Tensor, *, block: int = BLOCK,
                        size: tuple[int, int] | None = None) -> Tensor:  # fmt: skip
    """(B, K) block scores of the BagNet heatmap for ``classes`` (module docstring, (a)).

    ``images`` (B, 3, h, w) are at the BagNet's input size; ``size`` (H, W), the comparison network's
    input size when it differs, resizes the pixel heatmap (bilinear, scaled by hw / HW so the total
    is kept) before the blocks are summed.
    """
    import torch

    from attrbench.experiments.bagnet.masking import block_scores
    from attrbench.geometry import Geometry, place
    from attrbench.models.bagnet import ReceptiveField

    q = bagnet.spec.receptive_field
    if q is None:
        raise OptionError(f"--bagnets: {bagnet.spec.name!r} declares no receptive field; it cannot give a heatmap")
    rf = ReceptiveField(size=int(q), stride=int(bagnet.spec.rf_stride))
    with torch.no_grad():
        logits = bagnet.patch_logits(images)  # (B, H', W', C)
    grid = logits.gather(3, classes.to(logits.device).view(-1, 1, 1, 1).expand(*logits.shape[:3], 1))[..., 0]
    pixels = place(grid[:, None].double().cpu(), geometry=Geometry.of(rf), size=tuple(images.shape[-2:]))
    if size is not None and tuple(size) != tuple(pixels.shape[-2:]):
        scale = pixels.shape[-2] * pixels.shape[-1] / (size[0] * size[1])
        pixels = torch.nn.functional.interpolate(pixels, size=tuple(size), mode="bilinear", align_corners=False) * scale
    return block_scores(pixels, block=block)


def method_block_scores(model: ImageModel, spec_text: str, images: Tensor, classes: Tensor, *, seed: int,
                        batch_size: int, block: int = BLOCK) -> Tensor:  # fmt: skip
    """(B, K) block scores of a registered method (``"ig"``, ``"occlusion[window=4]"``) on ``model``."""
    from attrbench.api import ClassLogit
    import torch

    from attrbench.context import run_seed_kwargs
    from attrbench.experiments.bagnet.masking import block_scores
    from attrbench.geometry import method_geometry
    from attrbench.methods import get_method
    from attrbench.options import validate_options
    from attrbench.postprocess import preset_for
    from attrbench.runspec import parse_spec

    name, options = parse_spec(spec_text)
    cls = get_method(name)
    validate_options(cls, options, spec=spec_text)
    if cls.info.needs_ground_truth:
        raise OptionError(f"--methods: {spec_text!r} needs ground truth, which a comparison network has not")
    method = cls(model, spec=model.spec, **{**run_seed_kwargs(cls, options, seed), **options})
    size = (int(images.shape[-2]), int(images.shape[-1]))
    geometry = method_geometry(model, method, size=size)
    _, post = preset_for(cls.info)
    scores = []
    for i in range(0, images.shape[0], batch_size):
        x, c = images[i : i + batch_size], classes[i : i + batch_size].to(images.device)
        raw = method(x, target=ClassLogit(c))
        scores.append(block_scores(post(raw.detach(), size=size, info=cls.info, geometry=geometry).double().cpu(),
                                   block=block))  # fmt: skip
    return torch.cat(scores)


def steps_of(*, max_patches: int, step: int, blocks: int) -> list[int]:
    """0, step, 2 step, ..., up to min(max_patches, blocks) (the last value always included)."""
    if max_patches < 1 or step < 1:
        raise OptionError(f"--max-patches and --step must be positive, got {max_patches} and {step}")
    top = min(max_patches, blocks)
    return sorted({*range(0, top + 1, step), top})


def _fill(model: ImageModel, kind: str) -> Tensor:
    import torch

    if kind == "mean":
        return torch.tensor(model.spec.mean, dtype=torch.float32)
    if kind == "black":
        return torch.zeros(3)
    raise OptionError(f"--fill must be 'mean' or 'black', got {kind!r}")


def _orders(setup: Setup, model: ImageModel, images: Tensor, classes: Tensor, *, methods: list[str],
            blocks: int) -> dict[str, Tensor]:  # fmt: skip
    """Order name -> (B, K) block order, for the BagNets, the methods and random."""
    import torch

    from attrbench.experiments.bagnet.masking import order_from_scores

    g = torch.Generator().manual_seed(setup.seed)
    size = (int(images.shape[-2]), int(images.shape[-1]))
    scores = {f"BagNet heatmap: {b}": bagnet_block_scores(bag, setup.images(bag), classes, size=size)
              for b, bag in setup.bagnets.items()}  # fmt: skip
    for spec_text in methods:
        scores[f"method: {spec_text}"] = method_block_scores(model, spec_text, images, classes, seed=setup.seed,
                                                             batch_size=setup.batch_size)  # fmt: skip
    scores["random"] = torch.zeros(images.shape[0], blocks, dtype=torch.float64)  # all tied: a seeded random order
    return {name: order_from_scores(s, generator=g) for name, s in scores.items()}


def _paired(aucs: dict[tuple[str, str], np.ndarray], *, seed: int) -> list[dict]:
    from attrbench.stats import bootstrap_ci

    rows = []
    for (m, a), va in aucs.items():
        if not a.startswith("BagNet"):
            continue
        for (m2, b), vb in aucs.items():
            if m2 == m and b.startswith("method"):
                mean, low, high = bootstrap_ci(va - vb, seed=seed)
                rows.append({"comparison": m, "bagnet order": a, "method order": b, "auc difference": mean,
                             "ci low": low, "ci high": high})  # fmt: skip
    return rows


def _figure(curves, *, out) -> None:  # noqa: ANN001
    from attrbench.experiments.bagnet.outputs import figure, save_figure

    models = list(dict.fromkeys(curves["comparison"]))
    fig, axes = figure(ncols=len(models), size=(4.6 * len(models), 3.4))
    for ax, m in zip(axes[0], models):
        for order, group in curves[curves["comparison"] == m].groupby("order", sort=False):
            style = "-" if order.startswith("BagNet") else ("--" if order.startswith("method") else ":")
            ax.plot(group["patches masked"], group["mean probability"], style, marker=".", label=order)
        ax.set_title(f"{m}: predicted class probability", fontsize=8)
        ax.set_xlabel("8 x 8 patches masked")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=5)
    fig.tight_layout()
    save_figure(fig, out=out, name="spatial_sensitivity")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attrbench experiment bagnet-spatial-sensitivity``."""
    add_common_arguments(p, n_images=100, out="results/bagnet/spatial_sensitivity", batch_size=25)
    p.add_argument("--methods", default=DEFAULT_METHODS, help=f"methods on the comparison network (default {DEFAULT_METHODS})")
    p.add_argument("--max-patches", type=int, default=32, help="largest number of masked 8 x 8 patches (default 32)")
    p.add_argument("--step", type=int, default=2, help="patches masked between two points of the curve (default 2)")
    p.add_argument("--fill", default="mean", help="masked pixels: 'mean' (per-channel data mean, default) or 'black'")


def main(args: argparse.Namespace) -> int:
    """Curves and AUCs of every order on every comparison network.

    Long: over 60 lines because it is the experiment end to end (orders, curves, three tables,
    the figure), each step a few lines that read best in order.
    """
    import pandas as pd

    from attrbench.experiments.bagnet.common import open_setup, output_dir, skip_without_comparison
    from attrbench.experiments.bagnet.masking import drop_auc, masked_probabilities
    from attrbench.experiments.bagnet.options import split_names
    from attrbench.experiments.bagnet.outputs import finish, write_tables
    from attrbench.export import write_table
    from attrbench.stats import bootstrap_ci

    methods = split_names(args.methods)
    setup = open_setup(args)
    out = output_dir(args.out)
    if skip_without_comparison(setup, out=out):
        return 0
    rows, curve_rows, aucs = [], [], {}
    for name, model in setup.comparison.items():
        images = setup.images(model)
        classes = setup.logits(name).argmax(1)
        blocks = (images.shape[-2] // BLOCK) * (images.shape[-1] // BLOCK)
        steps = steps_of(max_patches=args.max_patches, step=args.step, blocks=blocks)
        fill = _fill(model, args.fill)
        for order_name, order in _orders(setup, model, images, classes, methods=methods, blocks=blocks).items():
            probs = masked_probabilities(model, images, classes, order, steps=steps, block=BLOCK, fill=fill,
                                         batch_size=setup.batch_size)  # fmt: skip
            auc = drop_auc(probs, steps=steps)
            aucs[(name, order_name)] = auc
            mean, low, high = bootstrap_ci(auc, seed=setup.seed)
            rows.append({"comparison": name, "order": order_name, "images": len(auc), "drop auc": mean,
                         "ci low": low, "ci high": high, "p0 (mean)": float(probs[:, 0].mean()),
                         f"p after {steps[-1]} (mean)": float(probs[:, -1].mean())})  # fmt: skip
            curve_rows += [{"comparison": name, "order": order_name, "patches masked": k,
                            "mean probability": float(probs[:, s].mean())} for s, k in enumerate(steps)]  # fmt: skip
    table, curves = pd.DataFrame(rows), pd.DataFrame(curve_rows)
    write_tables(pd.DataFrame(_paired(aucs, seed=setup.seed)), out=out, name="paired", digits=3,
                 caption="Paired AUC differences (BagNet-heatmap order minus method order, same images), "
                         "mean with 95 % bootstrap interval; positive: the BagNet order drops faster.")  # fmt: skip
    write_table(curves.to_csv(index=False, float_format="%.6g", lineterminator="\n"), out / "curves.csv")
    return finish(table, args=args, out=out, name="spatial_sensitivity", digits=3, notes=setup.notes,
                  draw=lambda _: _figure(curves, out=out),
                  caption=f"Spatial sensitivity (BagNet paper Fig. 8): area under the drop of the comparison "
                          f"network's predicted-class probability while 8 x 8 patches are masked (fill: {args.fill}), "
                          f"mean over images with 95 % bootstrap interval; larger = faster drop.")  # fmt: skip
