"""Deletion (MoRF) curve and its area: lower is better.

Remove the most relevant units first and record the target score; a faithful map makes the
score fall fast (Petsiuk et al., RISE, BMVC 2018, arXiv 1806.07421). Convention:
:mod:`attrbench.metrics.perturbation` (torchcam's: unperturbed point included, trapezoid over the
removed fraction on [0, 1]).

Values: ``<mode>_auc`` is the AUC normalised by f(x) - f(fill) (the curve rescaled to run from
1 to 0 for deletion, 0 to 1 for insertion; comparable across images, models and fills; NaN when
f(x) = f(fill)); ``<mode>_auc_raw`` is the plain trapezoid AUC in score units (logits by default).

Ties in the removal order (e.g. the zeros of a ReLU'd CAM) are broken at random: the curve of a
sample whose units are not all distinct is the mean of the curves of ``tie_orders`` random tie
orders (seeded by the run seed and the sample index); samples without ties are scored once
(every order is the same). ``tie_orders=0`` restores the deterministic row-major tie-break.

Pixels no output sees (BagNet borders, :func:`attrbench.geometry.patch_coverage`) are kept out of
the order: units without a seen pixel are removed / inserted last, whatever the map says there
(:mod:`attrbench.metrics.perturbation`, "coverage").
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import Tensor

from attrbench.api import Batch, MetricCategory, MetricInfo
from attrbench.errors import OptionError
from attrbench.metrics.base import Curve, Metric, MetricContext, MetricResult
from attrbench.metrics.perturbation import (
    FILLS,
    SCORES,
    covered_unit_scores,
    has_ties,
    normalised_auc,
    perturbation_curves,
    tie_keys,
)
from attrbench.geometry import patch_coverage

__all__ = ["DEFAULT_TIE_ORDERS", "Deletion", "PerturbationMetric"]


def _rows_context(ctx: MetricContext, rows: Tensor) -> MetricContext:
    """``ctx`` restricted to the batch rows ``rows`` (images, maps, target, sample indices)."""
    b = ctx.batch

    def pick(t: Tensor | None) -> Tensor | None:
        return None if t is None else t[rows]

    batch = Batch(b.images[rows], b.labels[rows], [b.ids[i] for i in rows.tolist()], pick(b.masks), pick(b.bboxes), pick(b.parts))
    return dataclasses.replace(ctx, batch=batch, target=ctx.target.subset(rows), raw=ctx.raw[rows], maps=ctx.maps[rows],
                               sample_index=ctx.sample_index[rows], grid_map=pick(ctx.grid_map))  # fmt: skip

#: random tie orders averaged per sample with ties (the curve's Monte-Carlo error shrinks as 1/sqrt).
DEFAULT_TIE_ORDERS = 4


class PerturbationMetric(Metric):
    """Shared hyperparameters of deletion and insertion.

    Args:
        unit: block side in pixels (1 = pixels; default 8 = the BagNet stride).
        steps: at most this many perturbation steps (curve has steps + 1 points when U divides).
        fill: "zero", "mean" or "blur".
        score: "logit" (the target) or "probability".
        blur_sigma: Gaussian sigma in pixels for ``fill="blur"``.
        tie_orders: random tie orders averaged per sample with tied units (0 = row-major ties).
        max_samples: score only samples whose run index is below this (None = all), e.g.
            ``deletion[max_samples=16]``: a curve costs steps + 1 forwards per sample, so a subset
            makes fine curves affordable; the other samples give no records.
    """

    mode: ClassVar[str]

    def __init__(
        self,
        *,
        unit: int = 8,
        steps: int = 12,
        fill: str = "zero",
        score: str = "logit",
        blur_sigma: float = 5.0,
        tie_orders: int = DEFAULT_TIE_ORDERS,
        max_samples: int | None = None,
    ) -> None:
        if max_samples is not None and int(max_samples) < 1:
            raise OptionError(f"{self.mode}: max_samples must be >= 1 or none, got {max_samples}")
        self.max_samples = None if max_samples is None else int(max_samples)
        if fill not in FILLS:
            raise OptionError(f"{self.mode}: unknown fill {fill!r}; choose from {FILLS}")
        if score not in SCORES:
            raise OptionError(f"{self.mode}: unknown score {score!r}; choose from {SCORES}")
        if int(unit) < 1 or int(steps) < 1:
            raise OptionError(f"{self.mode}: unit and steps must be positive, got unit={unit}, steps={steps}")
        if int(tie_orders) < 0:
            raise OptionError(f"{self.mode}: tie_orders must be >= 0 (0 = row-major ties), got {tie_orders}")
        self.unit = int(unit)
        self.steps = int(steps)
        self.fill = fill
        self.score = score
        self.blur_sigma = float(blur_sigma)
        self.tie_orders = int(tie_orders)

    def scoring(self) -> dict[str, Any]:
        """Removal order at ``unit`` x ``unit`` blocks (no truth: a faithfulness proxy)."""
        return {"resolution": f"{self.unit} x {self.unit} px blocks", "truth": None,
                "aggregation": "sum of the map over each block's seen pixels; unseen blocks last",
                "fill": self.fill, "prefix": self.mode}  # fmt: skip

    def _curves(self, ctx: MetricContext, index: Tensor, keys: Tensor | None) -> tuple[Tensor, Tensor]:
        return perturbation_curves(
            model=ctx.model,
            images=ctx.batch.images[index],
            maps=ctx.maps[index],
            target=ctx.target.subset(index),
            mode=self.mode,
            unit=self.unit,
            steps=self.steps,
            fill=self.fill,
            score=self.score,
            blur_sigma=self.blur_sigma,
            max_forward_batch=ctx.max_forward_batch,
            forward_batch=ctx.forward_batch,
            keys=keys,
            covered=patch_coverage(ctx.rf, size=tuple(ctx.maps.shape[-2:])),  # type: ignore[arg-type]
        )

    def curves(self, ctx: MetricContext) -> tuple[Tensor, Tensor]:
        """fractions (K,) and the tie-averaged scores (B, K) (module docstring)."""
        everyone = torch.arange(ctx.maps.shape[0], device=ctx.maps.device)
        if self.tie_orders == 0:
            return self._curves(ctx, everyone, None)
        covered = patch_coverage(ctx.rf, size=tuple(ctx.maps.shape[-2:]))  # type: ignore[arg-type]
        unit_values, _ = covered_unit_scores(ctx.maps, unit=self.unit, covered=covered)
        units = unit_values.shape[1]
        samples = ctx.sample_index.tolist()  # one transfer; keys are drawn on the host
        keys = [tie_keys(samples, seed=ctx.seed, order=r, units=units) for r in range(self.tie_orders)]
        fractions, scores = self._curves(ctx, everyone, keys[0].to(ctx.maps.device))
        tied = has_ties(unit_values).nonzero().flatten()
        if tied.numel() and self.tie_orders > 1:
            # the other orders of every tied sample in one call (rows order-major), summed in order
            tied_host, n = tied.cpu(), tied.numel()
            rows = tied.repeat(self.tie_orders - 1)
            more = torch.cat([keys[r][tied_host] for r in range(1, self.tie_orders)]).to(ctx.maps.device)
            extra = self._curves(ctx, rows, more)[1]
            total = scores[tied].clone()
            for r in range(self.tie_orders - 1):
                total += extra[r * n : (r + 1) * n]
            scores[tied] = total / self.tie_orders
        return fractions, scores

    def selects(self, sample_index: Tensor) -> Tensor:
        everyone = torch.ones_like(sample_index, dtype=torch.bool)
        return everyone if self.max_samples is None else sample_index < self.max_samples

    def compute(self, ctx: MetricContext) -> MetricResult:
        if self.max_samples is None:
            return self._compute(ctx)
        present = self.selects(ctx.sample_index)
        rows = present.nonzero().flatten()
        b = present.shape[0]
        if rows.numel() == 0:
            nan = torch.full((b,), float("nan"), dtype=torch.float64, device=present.device)
            name = f"{self.mode}_auc"
            return MetricResult(values={name: nan, f"{name}_raw": nan}, present=present)
        sub = self._compute(_rows_context(ctx, rows))
        for name, v in sub.values.items():
            sub.values[name] = torch.full((b,), float("nan"), dtype=v.dtype, device=v.device).index_copy(0, rows, v)
        for curve in sub.curves.values():
            full = torch.full((b, curve.scores.shape[1]), float("nan"), dtype=curve.scores.dtype, device=curve.scores.device)
            curve.scores = full.index_copy(0, rows, curve.scores)
        sub.present = present
        return sub

    def _compute(self, ctx: MetricContext) -> MetricResult:
        fractions, scores = self.curves(ctx)
        raw = torch.trapezoid(scores, fractions.view(1, -1).expand_as(scores), dim=1)
        f_x, f_fill = (scores[:, 0], scores[:, -1]) if self.mode == "deletion" else (scores[:, -1], scores[:, 0])
        name = f"{self.mode}_auc"
        return MetricResult(
            values={name: normalised_auc(raw, f_x=f_x, f_fill=f_fill), f"{name}_raw": raw},
            reasons={
                name: "undefined: the score of the image equals the score of the fill (or is not finite)",
                f"{name}_raw": "the model's score is not finite on a perturbed image",
            },
            curves={self.mode: Curve(fractions=fractions, scores=scores)},
        )


class Deletion(PerturbationMetric):
    """Deletion AUC (most relevant first); see :class:`PerturbationMetric` for the arguments."""

    mode = "deletion"
    info: ClassVar[MetricInfo] = MetricInfo(
        name="deletion",
        category=MetricCategory.FAITHFULNESS,
        needs_model=True,
        reference="Petsiuk et al., BMVC 2018, arXiv 1806.07421; torchcam DeletionInsertionMetric convention",
    )
    outputs: ClassVar[dict[str, bool]] = {"deletion_auc": False, "deletion_auc_raw": False}
