"""The metric contract: one class per metric, batched, several named values per metric.

A metric sees a whole batch at once through a :class:`MetricContext` (images, target, raw and
post-processed maps, the model, a way to re-explain on another model) and returns a
:class:`MetricResult`: a ``(B,)`` tensor per value name, optional curves, and a reason for every
value that is NaN. A metric never loads data and never knows about the results store; the
runner turns results into records.

Value names: a metric declares ``outputs`` (prefix -> higher_is_better). Emitted names are a
prefix or ``prefix@suffix`` (``gt_topk_precision@5``, ``mprt_ssim@layer4``); the direction of a
name is the direction of its prefix. A metric may also declare ``ranges`` (prefix ->
:class:`attrbench.stats.ValueRange`: the values a sample can take and whether they are binary),
from which :func:`attrbench.stats.interval` picks the confidence interval; undeclared prefixes
are unbounded and continuous.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from attrbench.api import Batch, MethodInfo, MetricInfo, Target
from attrbench.models.bagnet import ReceptiveField
from attrbench.models.common import ImageModel
from attrbench.stats import ValueRange
from attrbench.truth_cache import TruthCache

__all__ = ["Curve", "Metric", "MetricContext", "MetricResult"]


@dataclass
class MetricContext:
    """Everything a metric may use for one (method, batch) unit; all tensors on one device.

    Attributes:
        model: the eval-mode model (takes images in [0, 1]).
        batch: the batch; ``batch.labels`` already resolved (label -1 -> top prediction).
        target: the track's target for this batch (B samples).
        raw: the method's raw attribution, (B, C, h, w).
        maps: post-processed maps at input resolution, (B, 1, H, W).
        grid_map: the post-processed map at the BagNet patch grid (B, H', W') when the reduced raw
            map already has the grid's shape, else None (metrics then aggregate ``maps``).
        method_info: the method's metadata.
        baseline: the method's pixel fill value when ``method_info.needs_baseline``, else None.
        rf: the model's receptive field, None for models without ground truth.
        seconds: wall time of the method call for the whole batch (CUDA synchronised).
        sample_index: (B,) int64 position of each sample in the run (0-based, dataset order).
        explain: ``explain(model) -> (B, 1, H, W)``: the same method, re-seeded identically, on
            another model of the same architecture, post-processed like ``maps``.
        seed: the unit's seed (metrics needing randomness derive generators from it).
        run_seed: the run's seed, the same for every method and batch (metrics that must draw
            the same random objects for every method, such as MPRT's randomised models and
            ``gt_cell``'s sampled truth, use it).
        max_forward_batch: the largest number of images a metric may send through the model at once.
        forward_batch: images per forward of perturbation curves: an int (the run's measured or
            given chunk), "max" (balanced chunks of ``max_forward_batch``) or "auto" (probe here).
        explain_target: ``explain_target(target) -> (B, 1, H, W)``: the same method, re-seeded
            identically, on the same model and images for another B-sample target, post-processed
            like ``maps``; None when the caller cannot re-explain (the random-logit test needs it).
        truths: the run's ground-truth cache (:class:`attrbench.truth_cache.TruthCache`), shared
            by every method, so truths are computed once per batch and baseline; None = uncached.
    """

    model: ImageModel
    batch: Batch
    target: Target
    raw: Tensor
    maps: Tensor
    method_info: MethodInfo
    explain: Callable[[nn.Module], Tensor]
    sample_index: Tensor
    grid_map: Tensor | None = None
    baseline: float | None = None
    rf: ReceptiveField | None = None
    seconds: float = float("nan")
    seed: int = 0
    max_forward_batch: int = 256
    explain_target: Callable[[Target], Tensor] | None = None
    run_seed: int = 0
    truths: TruthCache | None = None
    forward_batch: int | str = "max"


@dataclass
class Curve:
    """Per-sample curves, e.g. deletion scores against the removed fraction.

    Attributes:
        fractions: (K,) x-axis shared by all samples (removed/inserted fraction in [0, 1]).
        scores: (B, K).
    """

    fractions: Tensor
    scores: Tensor


@dataclass
class MetricResult:
    """What a metric returns for one batch.

    Attributes:
        values: value name -> (B,) float tensor (NaN where undefined; explain in ``reasons``).
        reasons: value name -> why a NaN value is undefined (shown in the record's ``error``).
        curves: curve name -> :class:`Curve` (stored in ``curves.parquet``).
        present: (B,) bool, samples that were scored at all (others give no records); None = all.
    """

    values: dict[str, Tensor]
    reasons: dict[str, str] = field(default_factory=dict)
    curves: dict[str, Curve] = field(default_factory=dict)
    present: Tensor | None = None


class Metric(ABC):
    """Base class: class-level ``info`` and ``outputs``, typed keyword-only hyperparameters.

    Subclasses implement :meth:`compute` (batched, no per-sample Python loops) and, when they
    emit suffixed names, :meth:`value_names`.
    """

    info: ClassVar[MetricInfo]
    #: value-name prefix -> higher_is_better.
    outputs: ClassVar[dict[str, bool]]
    #: value-name prefix -> declared range and kind (undeclared: unbounded, continuous).
    ranges: ClassVar[dict[str, ValueRange]] = {}

    def higher_is_better(self, name: str) -> bool:
        """Direction of an emitted value name (the direction of its prefix)."""
        prefix = name.split("@", 1)[0]
        if prefix not in self.outputs:
            raise KeyError(f"metric {self.info.name!r} declares no output {prefix!r} (declared: {sorted(self.outputs)})")
        return self.outputs[prefix]

    def value_range(self, name: str) -> ValueRange:
        """Declared range and kind of an emitted value name (of its prefix; default unbounded)."""
        self.higher_is_better(name)  # an undeclared prefix is an error, as for the direction
        return self.ranges.get(name.split("@", 1)[0], ValueRange())

    def value_names(self, *, model: ImageModel, batch: Batch) -> list[str]:
        """All value names :meth:`compute` emits for this model and batch (default: the prefixes).

        The runner records failed samples under these names, so they must match ``compute``.
        """
        return list(self.outputs)

    def selects(self, sample_index: Tensor) -> Tensor:
        """(B,) bool: samples this metric scores (default all; randomisation scores a subset)."""
        return torch.ones_like(sample_index, dtype=torch.bool)

    @abstractmethod
    def compute(self, ctx: MetricContext) -> MetricResult:
        """Score one batch; see :class:`MetricResult`."""

    @property
    def config(self) -> dict[str, Any]:
        """Hyperparameters for the run config (public plain attributes)."""
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            if key.startswith("_"):
                continue
            if isinstance(value, (int, float, str, bool, type(None))):
                out[key] = value
            elif isinstance(value, (tuple, list)):
                out[key] = list(value)
        return out

    def scoring(self) -> dict[str, Any]:
        """The declared scoring resolution: what a map is compared with, at which resolution, brought
        there by which rule (``config.json`` ``metric_info[...]["scoring"]``; {} = the map's pixels)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Metric info for the run config: metadata, hyperparameters and output directions."""
        info = self.info
        return {
            "name": info.name,
            "category": info.category.value,
            "needs_ground_truth": info.needs_ground_truth,
            "needs_mask": info.needs_mask,
            "needs_bbox": info.needs_bbox,
            "needs_model": info.needs_model,
            "reference": info.reference,
            "outputs": dict(self.outputs),
            "ranges": {prefix: self.value_range(prefix).as_dict() for prefix in self.outputs},
            "scoring": self.scoring(),
            "config": self.config,
        }
