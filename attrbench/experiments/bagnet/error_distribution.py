"""Do BagNets and standard networks fail on the same classes? Error distributions (Brendel & Bethge, ICLR 2019).

    attrbench experiment bagnet-errors [--dataset synthbirds] [--n-images 1000]

Per model m and class c, the top-1 accuracy a_m(c) on the sample's images of class c; between two
models the Pearson correlation of the vectors (a_m(c))_c over classes, and the share of images on
which both are right or both are wrong (agreement of errors). The paper reports that error
distributions over classes are consistent across models.

Outputs (``--out``, default results/bagnet/errors): per_class_accuracy.{csv,md,tex} (one row per
class, one column per model), error_correlation.{csv,md,tex} (one row per model pair),
errors.{png,pdf}, command.txt.
"""

from __future__ import annotations

import argparse
import itertools
from typing import TYPE_CHECKING

from attrbench.experiments.bagnet.interaction import pearson
from attrbench.experiments.bagnet.options import add_common_arguments

if TYPE_CHECKING:  # torch and numpy load inside the functions: ``attrbench --help`` must stay light
    import numpy as np
    from torch import Tensor

__all__ = ["add_arguments", "main", "pair_rows", "per_class_accuracy"]


def per_class_accuracy(predictions: Tensor, labels: Tensor, *, num_classes: int) -> np.ndarray:
    """(num_classes,) top-1 accuracy per class (NaN for a class without images)."""
    import numpy as np

    pred, lab = predictions.numpy(), labels.numpy()
    out = np.full(num_classes, np.nan)
    for c in range(num_classes):
        sel = lab == c
        if sel.any():
            out[c] = float((pred[sel] == c).mean())
    return out


def _accuracy_pearson(pred_a: np.ndarray, pred_b: np.ndarray, labels: np.ndarray, *, num_classes: int) -> float:
    """Pearson of the two models' per-class accuracies over the classes with images."""
    import numpy as np

    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    ok = counts > 0
    acc_a = np.bincount(labels, weights=(pred_a == labels), minlength=num_classes)[ok] / counts[ok]
    acc_b = np.bincount(labels, weights=(pred_b == labels), minlength=num_classes)[ok] / counts[ok]
    return pearson(acc_a, acc_b)


def pair_rows(predictions: dict[str, Tensor], labels: Tensor, *, num_classes: int, seed: int = 0) -> list[dict]:
    """Per model pair: Pearson of per-class accuracies (classes with images; 95 % bootstrap interval over
    images, seeded) and error agreement."""
    import numpy as np

    from attrbench.stats import bootstrap_statistic

    acc = {m: per_class_accuracy(p, labels, num_classes=num_classes) for m, p in predictions.items()}
    lab = labels.numpy()
    rows = []
    for a, b in itertools.combinations(predictions, 2):
        ok = np.isfinite(acc[a]) & np.isfinite(acc[b])
        right_a, right_b = predictions[a] == labels, predictions[b] == labels
        pa, pb = predictions[a].numpy(), predictions[b].numpy()
        _, low, high = bootstrap_statistic(
            lambda idx: _accuracy_pearson(pa[idx], pb[idx], lab[idx], num_classes=num_classes), len(lab), seed=seed)
        rows.append({"model a": a, "model b": b, "classes": int(ok.sum()),
                     "pearson of per-class accuracy": pearson(acc[a][ok], acc[b][ok]), "ci low": low, "ci high": high,
                     "same correctness": float((right_a == right_b).double().mean()),
                     "both wrong / either wrong": float((~right_a & ~right_b).sum()) / max(1, int((~right_a | ~right_b).sum()))})  # fmt: skip
    return rows


def _class_names(model, num_classes: int) -> list[str]:  # noqa: ANN001
    names = tuple(model.spec.class_names)
    return list(names) if len(names) == num_classes else [str(c) for c in range(num_classes)]


def _figure(table, pairs, *, out) -> None:  # noqa: ANN001
    import numpy as np

    from attrbench.experiments.bagnet.outputs import figure, save_figure

    models = [c for c in table.columns if c not in ("class", "images")]
    fig, axes = figure(ncols=2, size=(9.0, 3.4))
    ax = axes[0, 0]
    for m in models:
        ax.plot(range(len(table)), table[m], marker="o", markersize=3, label=m)
    ax.set_xlabel("class index")
    ax.set_ylabel("top-1 accuracy")
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)
    mat = np.eye(len(models))
    for r in pairs.itertuples(index=False):
        i, j = models.index(r[0]), models.index(r[1])
        mat[i, j] = mat[j, i] = r[3]
    ax = axes[0, 1]
    im = ax.imshow(mat, vmin=-1, vmax=1, cmap="coolwarm")
    ax.set_xticks(range(len(models)), models, rotation=45, ha="right", fontsize=6)
    ax.set_yticks(range(len(models)), models, fontsize=6)
    ax.set_title("Pearson of per-class accuracy", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    save_figure(fig, out=out, name="errors")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attrbench experiment bagnet-errors``."""
    add_common_arguments(p, n_images=1000, out="results/bagnet/errors")


def main(args: argparse.Namespace) -> int:
    """Predictions of every model on the sample; per-class accuracy table and pair correlations."""
    import numpy as np
    import pandas as pd

    from attrbench.experiments.bagnet.common import open_setup, output_dir
    from attrbench.experiments.bagnet.outputs import finish, write_tables

    setup = open_setup(args)
    out = output_dir(args.out)
    predictions = {name: setup.logits(name).argmax(1) for name in setup.models}
    first = next(iter(setup.models.values()))
    table = pd.DataFrame({"class": _class_names(first, setup.num_classes),
                          "images": np.bincount(setup.labels.numpy(), minlength=setup.num_classes)})  # fmt: skip
    for name, pred in predictions.items():
        table[name] = per_class_accuracy(pred, setup.labels, num_classes=setup.num_classes)
    pairs = pd.DataFrame(pair_rows(predictions, setup.labels, num_classes=setup.num_classes, seed=setup.seed))
    write_tables(table, out=out, name="per_class_accuracy", digits=2,
                 caption="Top-1 accuracy per class and model on the same images.")
    return finish(pairs, args=args, out=out, name="error_correlation", digits=3, notes=setup.notes,
                  draw=lambda p: _figure(table, p, out=out),
                  caption="Consistency of errors between models: Pearson correlation of per-class accuracies "
                          "(95 % bootstrap interval over images), share of images on which both models are right "
                          "or both wrong, and the share of images either model gets wrong that both get wrong.")  # fmt: skip
