"""Which image patches does a BagNet find most predictive? (Brendel & Bethge, ICLR 2019, the patch galleries)

    attrbench experiment bagnet-predictive-patches [--dataset synthbirds] [--n-images 400] [--per-class 6]

For every BagNet and class c, the patches p of all sample images ranked by their patch logit
l_p(x)_c; the top ``--per-class`` are shown as a grid of their q x q pixel windows (rows: classes).
"purity" is the share of a class's top patches that come from images labelled c (1: the most
predictive evidence for c is found on images of c). Misclassification view: for the first
``--wrong`` misclassified images (in dataset order), the image with the three patches of largest
logit for the wrongly predicted class outlined.

Outputs (``--out``, default results/bagnet/predictive_patches): top_patches.csv (every shown
patch: class, rank, image id, label, grid position, logit), predictive_patches.{csv,md,tex}
(purity and error counts per BagNet), patches_<bagnet>.{png,pdf}, misclassified_<bagnet>.{png,pdf},
command.txt.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from attrbench.errors import OptionError
from attrbench.experiments.bagnet.options import add_common_arguments

if TYPE_CHECKING:  # torch loads inside the functions: ``attrbench --help`` must stay light
    from torch import Tensor

__all__ = ["add_arguments", "main", "top_patches"]


def top_patches(patch_logits: Tensor, *, per_class: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per class, the ``per_class`` largest patch logits over all images and positions.

    Args:
        patch_logits: (n, H', W', C).
        per_class: k.

    Returns:
        (image, row, col, logit), each (C, k): image index, grid position and value, by decreasing
        logit (ties: smaller flat index first).
    """
    import torch

    n, h, w, c = patch_logits.shape
    k = min(per_class, n * h * w)
    flat = patch_logits.permute(3, 0, 1, 2).reshape(c, n * h * w).double()
    order = torch.argsort(-flat, dim=1, stable=True)[:, :k]
    values = flat.gather(1, order)
    return order // (h * w), (order % (h * w)) // w, order % w, values


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _patch_logits(model, images: Tensor, *, batch_size: int) -> Tensor:  # noqa: ANN001
    import torch

    with torch.no_grad():
        return torch.cat([model.patch_logits(images[i : i + batch_size]).cpu() for i in range(0, len(images), batch_size)])


def _gallery(images: Tensor, idx, rows, cols, *, q: int, stride: int, names: list[str], out, name: str) -> None:  # noqa: ANN001
    from attrbench.experiments.bagnet.outputs import figure, save_figure

    n_cls, k = idx.shape
    fig, axes = figure(nrows=n_cls, ncols=k, size=(0.75 * k + 2.2, 0.75 * n_cls))
    for c in range(n_cls):
        for r in range(k):
            i, y, x = int(idx[c, r]), int(rows[c, r]) * stride, int(cols[c, r]) * stride
            ax = axes[c, r]
            ax.imshow(images[i, :, y : y + q, x : x + q].permute(1, 2, 0).clamp(0, 1).cpu().numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_ylabel(names[c][:22], fontsize=4, rotation=0, ha="right", va="center")
    fig.tight_layout(pad=0.2)
    save_figure(fig, out=out, name=f"patches_{name}")


def _misclassified(images: Tensor, pl: Tensor, pred: Tensor, labels: Tensor, *, wrong: int, q: int, stride: int,
                   names: list[str], out, name: str) -> int:  # fmt: skip  # noqa: ANN001
    import torch
    from matplotlib.patches import Rectangle

    from attrbench.experiments.bagnet.outputs import figure, save_figure

    bad = torch.nonzero(pred != labels)[:, 0][:wrong].tolist()
    if not bad:
        return 0
    fig, axes = figure(ncols=len(bad), size=(1.9 * len(bad), 2.3))
    for ax, i in zip(axes[0], bad):
        c = int(pred[i])
        _, r, col, _ = top_patches(pl[i : i + 1, ..., c : c + 1], per_class=3)
        ax.imshow(images[i].permute(1, 2, 0).clamp(0, 1).cpu().numpy())
        for y, x in zip(r[0].tolist(), col[0].tolist()):
            ax.add_patch(Rectangle((x * stride - 0.5, y * stride - 0.5), q, q, fill=False, color="red", linewidth=0.8))
        ax.set_title(f"true {names[int(labels[i])][:14]}\npred {names[c][:14]}", fontsize=5)
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, out=out, name=f"misclassified_{name}")
    return len(bad)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attrbench experiment bagnet-predictive-patches``."""
    add_common_arguments(p, n_images=400, out="results/bagnet/predictive_patches")
    p.add_argument("--per-class", type=int, default=6, help="patches shown per class (default 6)")
    p.add_argument("--wrong", type=int, default=6, help="misclassified images shown (default 6)")


def main(args: argparse.Namespace) -> int:
    """Galleries, the patch list and the purity table for every BagNet.

    Long: over 60 lines because it is the experiment end to end (patch logits, rankings, two
    figures and two tables per BagNet), each step a few lines that read best in order.
    """
    import pandas as pd
    import torch

    from attrbench.experiments.bagnet.common import open_setup, output_dir
    from attrbench.experiments.bagnet.outputs import finish
    from attrbench.export import write_table

    if args.per_class < 1 or args.wrong < 0:
        raise OptionError(f"--per-class must be positive and --wrong non-negative, got {args.per_class}, {args.wrong}")
    setup = open_setup(args, need_comparison=False)
    out = output_dir(args.out)
    labels = setup.labels
    patch_rows, rows = [], []
    for name, model in setup.bagnets.items():
        images = setup.images(model)
        q, stride = int(model.spec.receptive_field), int(model.spec.rf_stride)
        pl = _patch_logits(model, images, batch_size=setup.batch_size)
        pred = pl.mean(dim=(1, 2)).argmax(1)
        idx, r, c, v = top_patches(pl, per_class=args.per_class)
        names = list(model.spec.class_names) if len(model.spec.class_names) == pl.shape[-1] else [
            str(k) for k in range(pl.shape[-1])]  # fmt: skip
        for cls in range(pl.shape[-1]):
            for rank in range(idx.shape[1]):
                i = int(idx[cls, rank])
                patch_rows.append({"bagnet": name, "class": cls, "rank": rank + 1, "image id": setup.ids[i],
                                   "label": int(labels[i]), "row": int(r[cls, rank]), "col": int(c[cls, rank]),
                                   "logit": float(v[cls, rank])})  # fmt: skip
        purity = (labels[idx] == torch.arange(pl.shape[-1])[:, None]).double()
        _gallery(images, idx, r, c, q=q, stride=stride, names=names, out=out, name=_slug(name))
        shown = _misclassified(images, pl, pred, labels, wrong=args.wrong, q=q, stride=stride, names=names, out=out,
                               name=_slug(name))  # fmt: skip
        rows.append({"bagnet": name, "q": q, "images": len(labels), "top-1": float((pred == labels).double().mean()),
                     "classes": int(pl.shape[-1]),
                     "patches per class": int(idx.shape[1]), "purity": float(purity.mean()),
                     "classes with purity 1": int((purity.mean(1) == 1).sum()), "misclassified shown": shown})  # fmt: skip
    write_table(pd.DataFrame(patch_rows).to_csv(index=False, float_format="%.6g", lineterminator="\n"),
                out / "top_patches.csv")  # fmt: skip
    return finish(pd.DataFrame(rows), args=args, out=out, name="predictive_patches", digits=3, notes=setup.notes,
                  caption="Most predictive patches: share of each class's top patches (by patch logit, over all "
                          "sample images) that come from images of that class (purity).")  # fmt: skip
