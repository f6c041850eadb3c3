"""Patch-evidence deletion on BagNets: exact deletion of patch evidence, no pixel is touched.

A BagNet's class logit is the mean of its patch logits, f(x) = (1/N) sum_p l_p(x) (Brendel &
Bethge, ICLR 2019, arXiv 1904.00760). Deleting patch p's evidence means replacing l_p(x) by
l_p(b), its logit on the fill image b; after the top k patches of the map (on the patch grid,
most relevant first) are replaced, the logit is exactly

    s_k = f(x) - (1/N) sum_{i < k} (l_{p_i}(x) - l_{p_i}(b)),     k = 0, ..., N,

so s_0 = f(x) and s_N = f(b). Unlike pixel deletion no removal leaks into neighbouring patches
and no out-of-distribution image is scored; it needs only ``patch_logits`` of x and b (two
forward passes). Reported next to pixel deletion, with the same fills and conventions:

    patch_deletion_auc       trapezoid AUC over k / N, normalised by f(x) - f(b)   (lower is better)
    patch_deletion_auc_raw   the same AUC in logits                                 (lower is better)

Ties: patches with equal map values are removed in a uniformly random order, and the curve is its
exact expectation: within a tied run of sorted positions [s, e) the expected cumulative sum is the
linear interpolation C_s + (k - s) / (e - s) (C_e - C_s) (every order of the run is equally likely).

The map reaches the patch grid as in the ``gt`` metric: the method's grid map when it has the
grid's shape, else :func:`attrbench.ground_truth.pixels_to_patches` with the declared ``rule``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from attrbench.api import MetricCategory, MetricInfo
from attrbench.metrics.base import Curve, Metric, MetricContext, MetricResult
from attrbench.metrics.perturbation import FILLS, fill_images, normalised_auc

__all__ = ["PatchDeletion", "expected_cumulative"]


def expected_cumulative(values: Tensor, deltas: Tensor) -> Tensor:
    """Expected cumulative sums of ``deltas`` removed in decreasing order of ``values``, ties at random.

    Args:
        values: (B, N) map values (higher = removed first).
        deltas: (B, N) what each element removes.

    Returns:
        (B, N + 1): entry k is the expected sum of the deltas of the first k removed elements.
    """
    b, n = values.shape
    sorted_values, order = torch.sort(values, dim=1, descending=True, stable=True)
    d = deltas.gather(1, order)
    c = torch.cat([torch.zeros_like(d[:, :1]), d.cumsum(dim=1)], dim=1)  # (B, N + 1)
    pos = torch.arange(n, device=values.device).expand(b, n)
    first = torch.ones_like(sorted_values, dtype=torch.bool)
    first[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    last = torch.ones_like(first)
    last[:, :-1] = first[:, 1:]
    start = torch.where(first, pos, torch.zeros_like(pos)).cummax(dim=1).values  # run start of element i
    end = torch.where(last, pos + 1, torch.full_like(pos, n)).flip(1).cummin(dim=1).values.flip(1)  # run end
    k = pos + 1  # removing k elements: element k - 1 is the last one removed
    c_s, c_e = c.gather(1, start), c.gather(1, end)
    expected = c_s + (k - start).to(c.dtype) / (end - start).to(c.dtype) * (c_e - c_s)
    return torch.cat([c[:, :1], expected], dim=1)


class PatchDeletion(Metric):
    """Exact deletion of patch evidence, most relevant patch first (module docstring).

    Args:
        fill: the fill image b: "zero", "mean" or "blur" (as for pixel deletion).
        blur_sigma: Gaussian sigma in pixels for ``fill="blur"``.
        rule: pixel -> patch aggregation rule for maps not on the grid ("rf_sum" or "share").
    """

    info: ClassVar[MetricInfo] = MetricInfo(
        name="patch_deletion",
        category=MetricCategory.FAITHFULNESS,
        needs_ground_truth=True,
        needs_model=True,
        reference="BagNet patch logits (Brendel & Bethge, ICLR 2019, arXiv 1904.00760); "
        "deletion as in Petsiuk et al., BMVC 2018",
    )
    outputs: ClassVar[dict[str, bool]] = {"patch_deletion_auc": False, "patch_deletion_auc_raw": False}

    def __init__(self, *, fill: str = "zero", blur_sigma: float = 5.0, rule: str = "rf_sum") -> None:
        from attrbench.ground_truth import AGGREGATIONS

        if fill not in FILLS:
            raise ValueError(f"patch_deletion: unknown fill {fill!r}; choose from {FILLS}")
        if rule not in AGGREGATIONS:
            raise ValueError(f"patch_deletion: unknown aggregation rule {rule!r}; choose from {AGGREGATIONS}")
        self.fill = fill
        self.blur_sigma = float(blur_sigma)
        self.rule = rule

    @torch.no_grad()
    def compute(self, ctx: MetricContext) -> MetricResult:
        from attrbench.ground_truth import pixels_to_patches

        if ctx.rf is None or not ctx.model.has_patch_logits:
            raise TypeError(f"metric 'patch_deletion' needs a BagNet (patch logits); {ctx.model.spec.name!r} has none")
        images = ctx.batch.images
        fill = fill_images(images, fill=self.fill, blur_sigma=self.blur_sigma)
        logits = ctx.model.patch_logits(torch.cat([images, fill]))  # (2B, H', W', C)
        b = images.shape[0]
        labels = ctx.batch.labels.long().repeat(2)
        idx = labels.view(-1, 1, 1, 1).expand(-1, logits.shape[1], logits.shape[2], 1)
        l_all = logits.gather(3, idx).squeeze(3).flatten(1).to(torch.float64)  # (2B, N)
        l_x, l_b = l_all[:b], l_all[b:]
        grid = ctx.grid_map
        if grid is None:
            grid = pixels_to_patches(ctx.maps, rf=ctx.rf, rule=self.rule)  # type: ignore[arg-type]
        a = grid.flatten(1).to(torch.float64)
        if a.shape != l_x.shape:
            raise ValueError(f"patch_deletion: map on the patch grid has {a.shape[1]} patches, the model {l_x.shape[1]}")
        n = a.shape[1]
        f_x, f_b = l_x.mean(dim=1), l_b.mean(dim=1)
        scores = f_x.view(-1, 1) - expected_cumulative(a, l_x - l_b) / n  # (B, N + 1)
        fractions = torch.arange(n + 1, dtype=torch.float64, device=a.device) / n
        raw = torch.trapezoid(scores, fractions.view(1, -1).expand_as(scores), dim=1)
        return MetricResult(
            values={"patch_deletion_auc": normalised_auc(raw, f_x=f_x, f_fill=f_b), "patch_deletion_auc_raw": raw},
            reasons={
                "patch_deletion_auc": "undefined: the logit of the image equals the logit of the fill",
                "patch_deletion_auc_raw": "the patch logits are not finite",
            },
            curves={"patch_deletion": Curve(fractions=fractions, scores=scores)},
        )
