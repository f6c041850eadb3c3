"""Ceilings: the best agreement score a family of maps can reach at a scoring resolution.

A method family returns maps at one resolution; the metric brings them to the scoring resolution
by its declared rule. The ceiling is the score of the truth itself after that trip, i.e. of the
perfect map of the family:

    scoring "patch" (``gt``), family "patch":   the truth on the grid as it is           -> 1
    scoring "patch", family "pixel":            the truth spread over each patch's receptive field
                                                (:func:`attrbench.geometry.place`), brought back by
                                                the rule (``rf_sum`` or ``share``)
    scoring "cell" (``gt_cell``), family "pixel": the truth spread evenly over each cell's covered
                                                pixels, summed back per cell              -> 1
    scoring "cell", family "patch":             the cell truth spread to pixels, brought to the
                                                patch grid by ``rf_sum``, placed by geometry and
                                                summed back per cell

Pixel maps thus have a hidden ceiling below 1 on the patch grid (overlapping receptive fields), and
patch maps one on the cell grid. The leaderboard prints these next to each family's scores.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from attrbench.cell_truth import cell_sums
from attrbench.geometry import Geometry, patch_coverage, place
from attrbench.ground_truth import pixels_to_patches
from attrbench.metrics.gt import agreement
from attrbench.models.bagnet import ReceptiveField

__all__ = ["FAMILIES", "SCORINGS", "cells_to_pixels", "ceiling", "ceiling_map"]

FAMILIES: tuple[str, ...] = ("pixel", "patch")
SCORINGS: tuple[str, ...] = ("patch", "cell")


def cells_to_pixels(values: Tensor, *, cell: int, size: tuple[int, int], covered: Tensor | None = None) -> Tensor:
    """Spread each cell value evenly over the cell's covered pixels: (B, Hc, Wc) -> (B, 1, H, W).

    Cell sums of the result (:func:`attrbench.cell_truth.cell_sums` with the same ``covered``) give
    ``values`` back wherever a cell has a covered pixel.
    """
    h, w = int(size[0]), int(size[1])
    seen = torch.ones(1, 1, h, w, dtype=values.dtype, device=values.device)
    if covered is not None:
        seen = covered.reshape(1, 1, h, w).to(values)
    count = cell_sums(seen, cell=cell)  # (1, Hc, Wc) covered pixels per cell
    density = values / count.clamp_min(1)
    pix = density.repeat_interleave(cell, dim=1).repeat_interleave(cell, dim=2)[:, :h, :w]
    return pix.unsqueeze(1) * seen


def ceiling_map(
    truth: Tensor,
    *,
    scoring: Literal["patch", "cell"],
    family: Literal["pixel", "patch"],
    rf: ReceptiveField,
    size: tuple[int, int],
    cell: int = 8,
    rule: str = "rf_sum",
) -> Tensor:
    """The perfect map of ``family`` brought to the ``scoring`` grid (module docstring).

    Args:
        truth: (B, H', W') patch truth for ``scoring="patch"``, (B, Hc, Wc) cell truth for "cell".
        rf: the model's receptive field.
        size: the input (H, W).

    Returns:
        a tensor shaped like ``truth``.
    """
    if scoring not in SCORINGS or family not in FAMILIES:
        raise ValueError(f"ceiling: scoring must be one of {SCORINGS} and family one of {FAMILIES}; got {scoring!r}, {family!r}")
    geometry = Geometry.of(rf)
    if scoring == "patch":
        if family == "patch":
            return truth
        return pixels_to_patches(place(truth, geometry=geometry, size=size), rf=rf, rule=rule)  # type: ignore[arg-type]
    covered = patch_coverage(rf, size=size)
    pixels = cells_to_pixels(truth, cell=cell, size=size, covered=covered)
    if family == "patch":
        patches = pixels_to_patches(pixels, rf=rf, rule="rf_sum")
        pixels = place(patches, geometry=geometry, size=size)
    return cell_sums(pixels, cell=cell, covered=covered)


def ceiling(
    truth: Tensor,
    *,
    scoring: Literal["patch", "cell"],
    family: Literal["pixel", "patch"],
    rf: ReceptiveField,
    size: tuple[int, int],
    cell: int = 8,
    rule: str = "rf_sum",
    topk: tuple[float, ...] = (5, 10, 20),
    keep: Tensor | None = None,
) -> dict[str, Tensor]:
    """Per-sample ceiling of every agreement value (names ``gt_*`` or ``cellgt_*``).

    Args:
        keep: optional (units,) bool of the grid units scored (e.g. ``CellTruth.covered``).

    Returns:
        value name -> (B,) float64.
    """
    best = ceiling_map(truth, scoring=scoring, family=family, rf=rf, size=size, cell=cell, rule=rule)
    a, g = best.flatten(1), truth.flatten(1)
    if keep is not None:
        a, g = a[:, keep.flatten()], g[:, keep.flatten()]
    values, _ = agreement(a, g, topk=topk, prefix="gt" if scoring == "patch" else "cellgt")
    return values
