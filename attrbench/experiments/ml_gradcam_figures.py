"""Figures of the ``ml-gradcam`` experiment: maps of the variants on a few images, and explanation
quality against the embedding's Recall@1 over several checkpoints (issue 16, item 1).

Quality vs Recall@1: for each checkpoint (x = its unseen-class Recall@1 stored in the checkpoint)
and each variant, the mean over the same images of energy in mask, pointing game and deletion AUC
on the similarity; one line per variant, one panel per metric. The numbers behind it are written
as ``quality_vs_recall.csv`` by :func:`quality_vs_recall`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attrbench.context import RunContext

__all__ = ["QUALITY_METRICS", "plot_quality_vs_recall", "qualitative_figure", "quality_vs_recall"]

#: (metric, panel title) of the quality-vs-Recall@1 figure.
QUALITY_METRICS: tuple[tuple[str, str], ...] = (
    ("loc_energy_mask", "energy in mask (higher is better)"),
    ("loc_pointing_game", "pointing game (higher is better)"),
    ("deletion_auc", "deletion AUC on the similarity (lower is better)"),
)


def quality_vs_recall(runs: list[dict[str, Any]], variants):  # noqa: ANN001, ANN201
    """Long table: one row per (checkpoint, variant, metric) with the mean and n.

    Args:
        runs: dicts with "model" (name), "recall@1" (float) and "records" (the run's records).
        variants: (family, variant, spec) rows.
    """
    import pandas as pd

    rows = []
    for run in runs:
        rec = run["records"]
        ok = rec[rec["status"] == "ok"]
        for family, variant, spec in variants:
            for metric, _ in QUALITY_METRICS:
                values = ok[(ok["method"] == spec) & (ok["metric"] == metric)]["value"].astype(float)
                rows.append({"model": run["model"], "recall@1": run["recall@1"], "method": family,
                             "variant": variant, "spec": spec, "metric": metric,
                             "mean": float(values.mean()) if len(values) else float("nan"), "n": int(len(values))})
    return pd.DataFrame(rows)


def plot_quality_vs_recall(table, *, path: Path) -> None:  # noqa: ANN001
    """One panel per :data:`QUALITY_METRICS` metric, x = Recall@1, one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(QUALITY_METRICS), figsize=(5.2 * len(QUALITY_METRICS), 4.6))
    for ax, (metric, title) in zip(axes, QUALITY_METRICS):
        part = table[table["metric"] == metric]
        colours = plt.get_cmap("tab20")  # up to 20 distinguishable lines (the default cycle repeats after 10)
        for i, (spec, line) in enumerate(part.groupby("spec", sort=False)):
            line = line.sort_values("recall@1")
            label = f"{line['method'].iloc[0]}: {line['variant'].iloc[0]}"
            style = "--" if "transfer" in spec or spec.startswith("fastergradcam") else "-"
            ax.plot(line["recall@1"], line["mean"], style, marker="o", markersize=3, linewidth=1, label=label,
                    color=colours(i % 20))
        ax.set_xlabel("Recall@1 on unseen classes")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=5.5, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def qualitative_figure(ctx: RunContext, variants, *, path: Path, n_images: int) -> None:  # noqa: ANN001
    """Image, mask outline and each variant's map, placed as the run scores it (geometry)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attrbench.api import collate

    dataset = ctx.dataset
    picks = [dataset[i] for i in range(0, len(dataset), max(1, len(dataset) // n_images))][:n_images]
    batch = ctx.prepare_batch(collate(picks))
    target = ctx.track.make_target(model=ctx.model, batch=batch)
    size = tuple(batch.images.shape[-2:])
    maps = []
    for (family, variant, _), method in zip(variants, ctx.methods):
        raw = method.instance(batch.images, target=target)
        placed = ctx.postprocess_for(method)(raw, size=size, info=method.cls.info, rf=ctx.rf, geometry=method.geometry)
        maps.append((f"{family}\n{variant}", placed.detach().cpu()))
    fig, axes = plt.subplots(len(picks), 1 + len(maps), figsize=(1.5 * (1 + len(maps)), 1.6 * len(picks)),
                             squeeze=False)
    for r in range(len(picks)):
        img = batch.images[r].permute(1, 2, 0).float().cpu().numpy()
        axes[r, 0].imshow(img)
        if batch.masks is not None:
            axes[r, 0].contour(batch.masks[r, 0].float().cpu().numpy(), levels=[0.5], colors="w", linewidths=0.6)
        for c, (title, m) in enumerate(maps, 1):
            axes[r, c].imshow(img)
            axes[r, c].imshow(m[r, 0].float().numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            if r == 0:
                axes[r, c].set_title(title, fontsize=5)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
