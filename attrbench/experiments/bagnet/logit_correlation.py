"""How much do standard networks behave like BagNets? Logit correlation (Brendel & Bethge, ICLR 2019).

    attrbench experiment bagnet-logit-correlation [--dataset synthbirds] [--n-images 400]

For every BagNet b and comparison network m, on the same images x_i and for every class c:

    r(b, m) = Pearson over all pairs (i, c) of (f^b_c(x_i), f^m_c(x_i))     (pooled)

with a seeded bootstrap interval over images, and, per image, the Pearson correlation over the C
classes, averaged over images with a seeded bootstrap interval. The paper reports the pooled correlation with VGG-16 on ImageNet
(0.70 / 0.79 / 0.88 for BagNet-9 / 17 / 33). The table also lists each model's top-1 accuracy on
the sample, because two accurate models correlate partly through the labels alone.

Outputs (``--out``, default results/bagnet/logit_correlation): logit_correlation.{csv,md,tex},
logit_correlation.{png,pdf} (scatter of the logits), command.txt.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from attrbench.experiments.bagnet.interaction import pearson
from attrbench.experiments.bagnet.options import add_common_arguments

if TYPE_CHECKING:  # torch loads inside the functions: ``attrbench --help`` must stay light
    from torch import Tensor

__all__ = ["add_arguments", "correlation_row", "main"]


def correlation_row(bagnet: str, other: str, a: Tensor, b: Tensor, labels: Tensor, *, q: int | None, seed: int) -> dict:
    """One table row: pooled and per-image Pearson of logits ``a``, ``b`` (n, C) and both accuracies;
    ``q`` is the BagNet's receptive field (None: unknown)."""
    import numpy as np

    from attrbench.stats import bootstrap_ci, bootstrap_statistic

    x, y = a.double().numpy(), b.double().numpy()
    per_image = np.array([pearson(u, v) for u, v in zip(x, y)])
    mean, low, high = bootstrap_ci(per_image, seed=seed)
    pooled, p_low, p_high = bootstrap_statistic(lambda idx: pearson(x[idx], y[idx]), x.shape[0], seed=seed)
    return {"bagnet": bagnet, "q": q if q is not None else -1, "comparison": other, "images": int(x.shape[0]),
            "pearson (pooled)": pooled, "pooled ci low": p_low, "pooled ci high": p_high,
            "pearson per image (mean)": mean, "ci low": low, "ci high": high,
            "same top-1 class": float((a.argmax(1) == b.argmax(1)).double().mean()),
            "bagnet top-1": float((a.argmax(1) == labels).double().mean()),
            "comparison top-1": float((b.argmax(1) == labels).double().mean())}  # fmt: skip


def _figure(logits: dict[str, Tensor], pairs: list[tuple[str, str]], *, out) -> None:  # noqa: ANN001
    from attrbench.experiments.bagnet.outputs import figure, save_figure

    fig, axes = figure(ncols=len(pairs), size=(2.6 * len(pairs), 2.7))
    for ax, (b, m) in zip(axes[0], pairs):
        ax.scatter(logits[m].flatten().numpy(), logits[b].flatten().numpy(), s=2, alpha=0.3, rasterized=True)
        ax.set_xlabel(f"{m} logit", fontsize=7)
        ax.set_ylabel(f"{b} logit", fontsize=7)
        ax.set_title(f"r = {pearson(logits[b].numpy(), logits[m].numpy()):.3f}", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    save_figure(fig, out=out, name="logit_correlation")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attrbench experiment bagnet-logit-correlation``."""
    add_common_arguments(p, n_images=400, out="results/bagnet/logit_correlation")


def main(args: argparse.Namespace) -> int:
    """Logits of every model on the sample; one row per (BagNet, comparison network)."""
    import pandas as pd

    from attrbench.experiments.bagnet.common import open_setup, output_dir, skip_without_comparison
    from attrbench.experiments.bagnet.outputs import finish

    setup = open_setup(args)
    out = output_dir(args.out)
    if skip_without_comparison(setup, out=out):
        return 0
    pairs = [(b, m) for b in setup.bagnets for m in setup.comparison]
    table = pd.DataFrame([correlation_row(b, m, setup.logits(b), setup.logits(m), setup.labels,
                                          q=setup.bagnets[b].spec.receptive_field, seed=setup.seed)
                          for b, m in pairs])  # fmt: skip
    return finish(table, args=args, out=out, name="logit_correlation", digits=3, notes=setup.notes,
                  draw=lambda _: _figure({n: setup.logits(n) for n in setup.models}, pairs, out=out),
                  caption="Pearson correlation between BagNet and comparison-network logits on the same images "
                          "(pooled over image x class pairs, 95 % bootstrap interval over images; per image over "
                          "classes, mean with 95 % bootstrap interval).")  # fmt: skip
