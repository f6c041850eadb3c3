"""Random-logit test: explain another class; a faithful map changes (Sixt et al., "When
Explanations Lie: Why Many Modified BP Attributions Fail", ICML 2020, arXiv 1912.09818).

For each sample with class label c, a different class c' is drawn uniformly from the other
C - 1 classes (seeded by the run seed and the sample index, so the draw does not depend on the
batch); the method is re-run for c' on the same model and image (same seed) and post-processed
like the original map. A map that hardly changes when the explained class changes does not
explain the class. Values per sample (both **lower is better**):

    random_logit_spearman   Spearman rank correlation of the two maps (signed values, pixels)
    random_logit_ssim       SSIM (11 x 11 Gaussian window, sigma 1.5) of the min-max normalised maps

(the similarity measures of the randomisation metric, :mod:`attrbench.metrics.randomisation`).
Needs a class target and a caller that can re-explain for another target
(``MetricContext.explain_target``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from attrbench.api import ClassLogit, ClassProbability, MetricCategory, MetricInfo
from attrbench.metrics.base import Metric, MetricContext, MetricResult
from attrbench.metrics.functional import minmax, spearman, ssim
from attrbench.stats import ValueRange

__all__ = ["RandomLogit", "other_classes"]


def other_classes(labels: Tensor, sample_index: Tensor, *, num_classes: int, seed: int) -> Tensor:
    """(B,) a class != label per sample, uniform over the other ``num_classes - 1`` (seeded per sample)."""
    if num_classes < 2:
        raise ValueError(f"random_logit: needs at least 2 classes, the model has {num_classes}")
    shift = [1 + int(np.random.default_rng([int(seed), int(i), 0x52]).integers(num_classes - 1))
             for i in sample_index.tolist()]  # 1 .. C-1 added modulo C: never the label itself
    return (labels.cpu().long() + torch.tensor(shift, dtype=torch.long)) % num_classes


class RandomLogit(Metric):
    """Similarity of the maps of the label and of a random other class (module docstring)."""

    info: ClassVar[MetricInfo] = MetricInfo(
        name="random_logit",
        category=MetricCategory.RANDOMISATION,
        needs_model=True,
        reference="Sixt et al., ICML 2020, arXiv 1912.09818 (random logit test)",
    )
    outputs: ClassVar[dict[str, bool]] = {"random_logit_spearman": False, "random_logit_ssim": False}
    ranges: ClassVar[dict[str, ValueRange]] = {
        "random_logit_spearman": ValueRange(low=-1.0, high=1.0),
        "random_logit_ssim": ValueRange(low=-1.0, high=1.0),
    }

    def compute(self, ctx: MetricContext) -> MetricResult:
        if ctx.explain_target is None:
            raise TypeError("metric 'random_logit' needs MetricContext.explain_target (re-explaining for another class)")
        if not isinstance(ctx.target, (ClassLogit, ClassProbability)):
            raise TypeError(f"metric 'random_logit' needs a class target, got {ctx.target!r}")
        labels = ctx.target.labels
        other = other_classes(labels, ctx.sample_index, num_classes=int(ctx.model.spec.num_outputs), seed=ctx.run_seed)
        after = ctx.explain_target(type(ctx.target)(other.to(labels.device))).detach().to(torch.float64)
        before = ctx.maps.to(torch.float64)
        finite = torch.isfinite(after.flatten(1)).all(dim=1)
        after = torch.where(finite.view(-1, 1, 1, 1), after, torch.zeros_like(after))
        nan = torch.full_like(finite, float("nan"), dtype=torch.float64)
        values = {
            "random_logit_spearman": torch.where(finite, spearman(before.flatten(1), after.flatten(1)), nan),
            "random_logit_ssim": torch.where(finite, ssim(minmax(before), minmax(after)), nan),
        }
        reason = "undefined: a map is constant, or the method gave NaN/inf for the other class"
        return MetricResult(values=values, reasons={name: reason for name in values})
