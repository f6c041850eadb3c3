"""Localisation of a map against object masks and boxes (all higher is better).

The soft mask is binarised at 0.5 (pixel in the object iff mask >= 0.5). Per sample:

    loc_pointing_game   1 if the map's maximum pixel (first in row-major order when tied) lies in
                        the mask, else 0 (Zhang et al., IJCV 2018, "Top-down neural attention by
                        excitation backprop", without tolerance); NaN on an empty mask (Quantus
                        counts an empty mask as a hit, docs/metrics.md).
    loc_energy_mask     sum_{in mask} relu(a) / sum relu(a): the positive energy inside the object
                        (the energy-based pointing game of Score-CAM, Wang et al., CVPRW 2020; the
                        measure used by the metric-learning Grad-CAM paper, Chen et al., WACV 2020);
                        NaN on an empty mask (an all-zero mask file is not evidence of a miss).
    loc_energy_box      the same inside the bounding box (only when the dataset has boxes).
    loc_iou_top         IoU between the top-x% pixels of the map and the mask, x = the mask's
                        own area by default (so a perfect map scores 1; "relevance rank accuracy"
                        style, Arras et al., 2022), or a fixed ``top_percent``.
    loc_auroc           ROC AUC of the map's values as a detector of mask pixels (Fawcett, 2006;
                        ties count 1/2); NaN when the mask is empty or covers the whole image.

Only seen pixels count: on a model with a patch grid, pixels no patch sees (the bottom/right
border, :func:`attrbench.geometry.patch_coverage`) are dropped from the map, the mask and the box
before any value is computed, so their map values change nothing.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from attrbench.api import Batch, MetricCategory, MetricInfo
from attrbench.errors import OptionError
from attrbench.geometry import patch_coverage
from attrbench.metrics.base import Metric, MetricContext, MetricResult
from attrbench.metrics.functional import auroc, descending_ranks
from attrbench.models.common import ImageModel
from attrbench.stats import ValueRange

__all__ = ["Localisation", "box_masks"]


def box_masks(bboxes: Tensor, *, size: tuple[int, int]) -> Tensor:
    """Boolean box masks (B, H, W) from (B, 4) boxes (x, y, w, h) in pixels.

    Pixel (r, c) is inside iff floor(x) <= c < ceil(x + w) and floor(y) <= r < ceil(y + h).
    """
    h, w = size
    rows = torch.arange(h, device=bboxes.device).view(1, h, 1)
    cols = torch.arange(w, device=bboxes.device).view(1, 1, w)
    x0 = torch.floor(bboxes[:, 0]).view(-1, 1, 1)
    y0 = torch.floor(bboxes[:, 1]).view(-1, 1, 1)
    x1 = torch.ceil(bboxes[:, 0] + bboxes[:, 2]).view(-1, 1, 1)
    y1 = torch.ceil(bboxes[:, 1] + bboxes[:, 3]).view(-1, 1, 1)
    return (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)


def _energy(pos: Tensor, inside: Tensor) -> Tensor:
    total = pos.sum(dim=1)
    share = (pos * inside).sum(dim=1) / torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, share, torch.full_like(share, float("nan")))


class Localisation(Metric):
    """Pointing game, energy in mask/box, top-x% IoU and AUROC (module docstring).

    Args:
        top_percent: None (default) = IoU of the top-|mask| pixels; a number in (0, 100] = IoU of
            the top ``top_percent`` % pixels (e.g. 20).
        threshold: soft-mask binarisation threshold (0.5).
    """

    info: ClassVar[MetricInfo] = MetricInfo(
        name="localisation",
        category=MetricCategory.LOCALISATION,
        needs_mask=True,
        reference="Zhang et al. IJCV 2018 (pointing game); Wang et al. CVPRW 2020 (energy); Fawcett 2006 (AUROC)",
    )
    outputs: ClassVar[dict[str, bool]] = {
        "loc_pointing_game": True,
        "loc_energy_mask": True,
        "loc_energy_box": True,
        "loc_iou_top": True,
        "loc_auroc": True,
    }
    #: every value lies in [0, 1]; the pointing game is a hit (1) or a miss (0).
    ranges: ClassVar[dict[str, ValueRange]] = {
        "loc_pointing_game": ValueRange(low=0.0, high=1.0, kind="binary"),
        "loc_energy_mask": ValueRange(low=0.0, high=1.0),
        "loc_energy_box": ValueRange(low=0.0, high=1.0),
        "loc_iou_top": ValueRange(low=0.0, high=1.0),
        "loc_auroc": ValueRange(low=0.0, high=1.0),
    }

    def __init__(self, *, top_percent: float | None = None, threshold: float = 0.5) -> None:
        if top_percent is not None and not 0 < top_percent <= 100:
            raise OptionError(f"localisation: top_percent must lie in (0, 100] or be None, got {top_percent}")
        self.top_percent = top_percent
        self.threshold = float(threshold)

    def value_names(self, *, model: ImageModel, batch: Batch) -> list[str]:
        names = ["loc_pointing_game", "loc_energy_mask", "loc_iou_top", "loc_auroc"]
        if batch.bboxes is not None:
            names.insert(2, "loc_energy_box")
        return names

    def compute(self, ctx: MetricContext) -> MetricResult:
        masks = ctx.batch.masks
        if masks is None:
            raise ValueError("metric 'localisation' needs object masks; this batch has none")
        if masks.shape[-2:] != ctx.maps.shape[-2:]:
            raise ValueError(f"localisation: masks {tuple(masks.shape)} and maps {tuple(ctx.maps.shape)} differ in size")
        size = tuple(ctx.maps.shape[-2:])
        covered = patch_coverage(ctx.rf, size=size)  # type: ignore[arg-type]
        seen = slice(None) if covered is None else covered.flatten().to(ctx.maps.device)
        a = ctx.maps.flatten(1).to(torch.float64)[:, seen]
        m = (masks.flatten(1) >= self.threshold)[:, seen]
        n = a.shape[1]
        area = m.sum(dim=1)
        empty = area == 0
        nan = torch.full((a.shape[0],), float("nan"), dtype=torch.float64, device=a.device)

        first_max = a.argmax(dim=1)  # first maximal index in row-major order
        hit = m.gather(1, first_max.view(-1, 1)).squeeze(1).to(torch.float64)
        values = {"loc_pointing_game": torch.where(empty, nan, hit)}
        reasons = {"loc_pointing_game": "undefined: empty object mask"}

        pos = a.clamp_min(0)
        # an empty (e.g. all-zero) mask makes the energy undefined, never a valid 0.0
        values["loc_energy_mask"] = torch.where(empty, nan, _energy(pos, m))
        reasons["loc_energy_mask"] = "undefined: empty object mask, or the map has no positive energy"
        if ctx.batch.bboxes is not None:
            inside = box_masks(ctx.batch.bboxes, size=size).flatten(1)[:, seen]  # type: ignore[arg-type]
            values["loc_energy_box"] = _energy(pos, inside)
            reasons["loc_energy_box"] = "undefined: the map has no positive energy"

        if self.top_percent is None:
            k = area
        else:
            k = torch.full_like(area, max(1, int(round(self.top_percent / 100 * n))))
        top = descending_ranks(a) < k.view(-1, 1)
        inter = (top & m).sum(dim=1).to(torch.float64)
        union = (top | m).sum(dim=1).to(torch.float64)
        values["loc_iou_top"] = torch.where(empty, nan, inter / union.clamp_min(1))
        reasons["loc_iou_top"] = "undefined: empty object mask"

        values["loc_auroc"] = auroc(a, m)
        reasons["loc_auroc"] = "undefined: the mask is empty or covers the whole image"
        return MetricResult(values=values, reasons=reasons)
