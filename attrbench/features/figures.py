"""Figures of the feature package: deconvnet grids (Zeiler & Fergus Fig. 2), occlusion maps (their
Fig. 7), explanatory-graph patterns (top-ranked patches and heat maps, Zhang et al. Fig. 5/6 in
spirit) and the location-instability bar chart. matplotlib with the Agg backend; PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from attrbench.features.geometry import LayerGeometry
from attrbench.features.occlusion_sensitivity import OcclusionMaps

__all__ = ["Patch", "crop", "deconv_grid", "heat_map", "instability_figure", "occlusion_figure", "pattern_figure", "to_display"]


@dataclass(frozen=True)
class Patch:
    """One cell of a grid: an image crop (3, h, w) in [0, 1], an optional projection crop, a caption."""

    image: Tensor
    projection: Tensor | None = None
    caption: str = ""


def _plt():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def crop(t: Tensor, box: tuple[int, int, int, int]) -> Tensor:
    """(C, H, W) -> the box (row0, row1, col0, col1) clipped to the image."""
    r0, r1, c0, c1 = box
    h, w = t.shape[-2:]
    return t[..., max(r0, 0) : min(r1, h), max(c0, 0) : min(c1, w)]


def to_display(t: Tensor, *, signed: bool = False) -> np.ndarray:
    """(3, h, w) -> (h, w, 3) in [0, 1]; ``signed`` maps 0 to grey and the largest |value| to 0 or 1."""
    x = t.detach().double().cpu()
    if signed:
        x = x / (2 * x.abs().max().clamp(min=1e-12)) + 0.5
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


def _save(fig, path: Path) -> Path:  # noqa: ANN001
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def deconv_grid(rows: Sequence[tuple[str, Sequence[Patch]]], *, title: str, path: str | Path) -> Path:
    """Per row label (a channel), its patches: projections on top, image patches below."""
    plt = _plt()
    k = max((len(p) for _, p in rows), default=1)
    fig, axes = plt.subplots(2 * len(rows), k, figsize=(1.1 * k, 2.3 * len(rows)), squeeze=False)
    for r, (label, patches) in enumerate(rows):
        for c in range(k):
            top, bottom = axes[2 * r, c], axes[2 * r + 1, c]
            for ax in (top, bottom):
                ax.axis("off")
            if c < len(patches):
                if patches[c].projection is not None:
                    top.imshow(to_display(patches[c].projection, signed=True), interpolation="nearest")
                bottom.imshow(to_display(patches[c].image), interpolation="nearest")
                top.set_title(patches[c].caption, fontsize=6)
        axes[2 * r, 0].text(-0.1, 0.5, label, transform=axes[2 * r, 0].transAxes, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, Path(path))


def occlusion_figure(image: Tensor, maps: OcclusionMaps, *, size: int, class_names: Sequence[str], path: str | Path) -> Path:
    """Image with the square, probability map, strongest-feature-map activation map, predicted class map."""
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
    shown = image.clone()
    shown[:, :size, :size] = 0.5
    axes[0].imshow(to_display(shown))
    axes[0].set_title(f"input (grey square {size} px, top left)", fontsize=8)
    extent = (float(maps.cols[0]) + size / 2, float(maps.cols[-1]) + size / 2,
              float(maps.rows[-1]) + size / 2, float(maps.rows[0]) + size / 2)  # fmt: skip
    name = class_names[maps.label] if maps.label < len(class_names) else str(maps.label)
    for ax, data, label, cmap in (
        (axes[1], maps.activation, f"total activation, channel {maps.channel} (unoccluded {maps.base_activation:.3g})", "viridis"),
        (axes[2], maps.probability, f"p({name[:28]}) (unoccluded {maps.base_probability:.2f})", "magma"),
        (axes[3], maps.predicted, "predicted class", "tab20"),
    ):
        im = ax.imshow(data.numpy(), extent=extent, cmap=cmap, interpolation="nearest")
        ax.set_title(label, fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, Path(path))


def pattern_figure(
    rows: Sequence[tuple[str, Sequence[Patch], Tensor, Tensor]], *, title: str, path: str | Path
) -> Path:
    """Per pattern: its top-ranked image patches, then one image with the pattern's heat map.

    Args:
        rows: (label, patches, image (3, H, W), heat map (H, W)) per pattern.
    """
    plt = _plt()
    k = max((len(p) for _, p, _, _ in rows), default=1) + 1
    fig, axes = plt.subplots(len(rows), k, figsize=(1.2 * k, 1.3 * len(rows)), squeeze=False)
    for r, (label, patches, image, heat) in enumerate(rows):
        for c in range(k):
            axes[r, c].axis("off")
        for c, patch in enumerate(patches):
            axes[r, c].imshow(to_display(patch.image), interpolation="nearest")
        axes[r, -1].imshow(to_display(image))
        axes[r, -1].imshow(heat.numpy(), cmap="jet", alpha=0.5, interpolation="nearest")
        axes[r, 0].text(-0.1, 0.5, label, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _save(fig, Path(path))


def instability_figure(rows: Sequence[dict], *, path: str | Path) -> Path:
    """Bars of location instability with their intervals, grouped by model (the table's rows of layer
    "all", the mean over layers)."""
    plt = _plt()
    rows = [r for r in rows if r.get("layer", "all") == "all"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    methods = list(dict.fromkeys(r["positions"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(models), 3.2))
    width = 0.8 / max(len(methods), 1)
    for m, method in enumerate(methods):
        for i, model in enumerate(models):
            hit = [r for r in rows if r["model"] == model and r["positions"] == method]
            if not hit:
                continue
            v, lo, hi = hit[0]["instability"], hit[0]["ci_low"], hit[0]["ci_high"]
            ax.bar(i + m * width, v, width, color=f"C{m}", label=method if i == 0 else None)
            if np.isfinite(lo):
                ax.vlines(i + m * width, lo, hi, color="k", lw=0.8)  # a percentile interval need not contain v
    ax.set_xticks([i + width * (len(methods) - 1) / 2 for i in range(len(models))], models, fontsize=7)
    ax.set_ylabel("location instability (lower is better)", fontsize=8)
    ax.legend(fontsize=7)
    return _save(fig, Path(path))


def heat_map(scores: Tensor, *, geometry: LayerGeometry, size: tuple[int, int]) -> Tensor:
    """(K,) unit scores -> (H, W): each pixel takes the score of the unit whose receptive-field
    centre is nearest (placed by geometry, not stretched)."""
    idx = []
    for axis, length in enumerate(size):
        centre0 = geometry.offset[axis] + (geometry.size[axis] - 1) / 2
        k = torch.round((torch.arange(length, dtype=torch.float64) - centre0) / geometry.stride[axis])
        idx.append(k.clamp(0, geometry.grid[axis] - 1).long())
    grid = scores.double().reshape(geometry.grid)
    return grid[idx[0][:, None], idx[1][None, :]]
