"""Attribution cost: wall-clock seconds per sample (lower is better).

Measured by the runner around the method call for the whole batch (``torch.cuda.synchronize``
before and after on CUDA) and divided by the number of scored samples, so every sample of a
batch gets the same value. When a batch call raised and the runner retried sample by sample,
the time is the sum of the successful single-sample calls. Includes the method's own forward
and backward passes, not post-processing.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from attrbench.api import MetricCategory, MetricInfo
from attrbench.metrics.base import Metric, MetricContext, MetricResult

__all__ = ["Runtime"]


class Runtime(Metric):
    """Seconds per sample of the attribution call."""

    info: ClassVar[MetricInfo] = MetricInfo(
        name="runtime",
        category=MetricCategory.COST,
        reference="wall time of the method call / batch size",
    )
    outputs: ClassVar[dict[str, bool]] = {"runtime_s": False}

    def compute(self, ctx: MetricContext) -> MetricResult:
        b = len(ctx.batch)
        per_sample = ctx.seconds / b
        return MetricResult(
            values={"runtime_s": torch.full((b,), per_sample, dtype=torch.float64, device=ctx.maps.device)},
            reasons={"runtime_s": "the runner measured no time"},
        )
