"""Insertion curve and its area: higher is better.

Start from the fill image and restore the most relevant units first; a faithful map makes the
score rise fast (Petsiuk et al., RISE, BMVC 2018, arXiv 1806.07421). Convention and AUC:
:mod:`attrbench.metrics.perturbation`; values, normalisation and random tie orders:
:mod:`attrbench.metrics.deletion`.
"""

from __future__ import annotations

from typing import ClassVar

from attrbench.api import MetricCategory, MetricInfo
from attrbench.metrics.deletion import PerturbationMetric

__all__ = ["Insertion"]


class Insertion(PerturbationMetric):
    """Insertion AUC (most relevant first); see :class:`PerturbationMetric` for the arguments."""

    mode = "insertion"
    info: ClassVar[MetricInfo] = MetricInfo(
        name="insertion",
        category=MetricCategory.FAITHFULNESS,
        needs_model=True,
        reference="Petsiuk et al., BMVC 2018, arXiv 1806.07421; torchcam DeletionInsertionMetric convention",
    )
    outputs: ClassVar[dict[str, bool]] = {"insertion_auc": True, "insertion_auc_raw": True}
