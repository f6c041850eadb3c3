"""Deletion (MoRF) curve and its area: lower is better.

Remove the most relevant units first and record the target score; a faithful map makes the
score fall fast (Petsiuk et al., RISE, BMVC 2018, arXiv 1806.07421). Convention and AUC:
:mod:`attrbench.metrics.perturbation` (torchcam's: unperturbed point included, trapezoid over the
removed fraction on [0, 1]).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from attrbench.api import MetricCategory, MetricInfo
from attrbench.errors import OptionError
from attrbench.metrics.base import Curve, Metric, MetricContext, MetricResult
from attrbench.metrics.perturbation import FILLS, SCORES, perturbation_curves

__all__ = ["Deletion", "PerturbationMetric"]


class PerturbationMetric(Metric):
    """Shared hyperparameters of deletion and insertion.

    Args:
        unit: block side in pixels (1 = pixels; default 8 = the BagNet stride).
        steps: at most this many perturbation steps (curve has steps + 1 points when U divides).
        fill: "zero", "mean" or "blur".
        score: "logit" (the target) or "probability".
        blur_sigma: Gaussian sigma in pixels for ``fill="blur"``.
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
    ) -> None:
        if fill not in FILLS:
            raise OptionError(f"{self.mode}: unknown fill {fill!r}; choose from {FILLS}")
        if score not in SCORES:
            raise OptionError(f"{self.mode}: unknown score {score!r}; choose from {SCORES}")
        if int(unit) < 1 or int(steps) < 1:
            raise OptionError(f"{self.mode}: unit and steps must be positive, got unit={unit}, steps={steps}")
        self.unit = int(unit)
        self.steps = int(steps)
        self.fill = fill
        self.score = score
        self.blur_sigma = float(blur_sigma)

    def compute(self, ctx: MetricContext) -> MetricResult:
        fractions, scores = perturbation_curves(
            model=ctx.model,
            images=ctx.batch.images,
            maps=ctx.maps,
            target=ctx.target,
            mode=self.mode,
            unit=self.unit,
            steps=self.steps,
            fill=self.fill,
            score=self.score,
            blur_sigma=self.blur_sigma,
            max_forward_batch=ctx.max_forward_batch,
        )
        auc = torch.trapezoid(scores, fractions.view(1, -1).expand_as(scores), dim=1)
        name = f"{self.mode}_auc"
        return MetricResult(
            values={name: auc},
            reasons={name: "the model's score is not finite on a perturbed image"},
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
    outputs: ClassVar[dict[str, bool]] = {"deletion_auc": False}
