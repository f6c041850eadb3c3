"""Ground truths computed once per run: a small cache keyed by samples and baseline.

The BagNet patch truth (:func:`attrbench.ground_truth.patch_truth`) and the cell truth
(:func:`attrbench.cell_truth.cell_truth`) depend on the images, their labels and the baseline,
not on the method being scored. Without a cache the ``gt`` metric re-runs ``patch_logits`` on the
batch (and on the baseline) once per method; with it, once per (batch, baseline) of the run.

A :class:`TruthCache` is owned by the :class:`~attrbench.context.RunContext` and reaches metrics
as :attr:`attrbench.metrics.base.MetricContext.truths`. Keys hold the sample ids and labels in
batch order and the baseline's value, so a unit whose failed rows were dropped gets its own entry
(the cached tensor is exactly what the uncached call returns for those images). Only the most
recent ``max_entries`` keys are kept: the runner works batch by batch, so memory stays bounded
by a few batches' truths ((B, H', W') tensors).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from torch import Tensor

from attrbench.ground_truth import patch_truth
from attrbench.models.common import ImageModel

__all__ = ["TruthCache"]


class TruthCache:
    """Least-recently-used cache of ground truths (module docstring).

    Args:
        max_entries: keys kept at once (every kind of truth counts).

    Attributes:
        computed: number of truths computed (cache misses); ``hits``: number served from the cache.
    """

    def __init__(self, *, max_entries: int = 16) -> None:
        if max_entries < 1:
            raise ValueError(f"TruthCache: max_entries must be >= 1, got {max_entries}")
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self.computed = 0
        self.hits = 0

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value stored under ``key``, computing (and storing) it with ``compute()`` on a miss."""
        if key in self._entries:
            self._entries.move_to_end(key)
            self.hits += 1
            return self._entries[key]
        value = compute()
        self.computed += 1
        self._entries[key] = value
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value

    def patch_truth(self, model: ImageModel, images: Tensor, *, ids: list[str], labels: Tensor,
                    baseline: float | None) -> Tensor:  # fmt: skip
        """:func:`attrbench.ground_truth.patch_truth` of ``images`` (B, 3, H, W), cached.

        Args:
            model: the run's BagNet.
            images: the samples ``ids`` (in this order), in [0, 1].
            ids: sample ids of the rows of ``images``.
            labels: (B,) target classes.
            baseline: the method's pixel fill value, or None (truth net of the fc bias).

        Returns:
            (B, H', W') patch contributions, the same tensor for every method of the batch.
        """
        key = ("patch", id(model), tuple(ids), tuple(labels.tolist()), None if baseline is None else float(baseline))
        return self.get(key, lambda: patch_truth(model, images, labels=labels, baseline=baseline))
