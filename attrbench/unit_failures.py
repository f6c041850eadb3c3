"""Records of samples that could not be loaded: one bad file fails one sample, not the run.

The runner loads samples through :class:`attrbench.datasets.isolation.IsolatingDataset`; a
sample that raises a :class:`~attrbench.errors.DataError` (missing, corrupt, 0-byte, oversized
image or mask) arrives as a :class:`~attrbench.datasets.isolation.FailedSample`. For every
method, :func:`lost_records` records it as ``status="failed"`` under every value name of every
metric the run computes (the names a scored sample would get; a metric that scores a subset of
samples, :meth:`~attrbench.metrics.base.Metric.selects`, records only its own), with the reason
naming the file. So a failed load shows in the summary's ``n_failed`` and in ``check``.

Value names may depend on the batch (e.g. ``loc_energy_box`` needs boxes), so they are taken
from a reference batch: the first sample of the run that loads (:class:`ReferenceBatch`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from attrbench.api import Batch, collate
from attrbench.context import PreparedMethod, RunContext
from attrbench.datasets.isolation import FailedSample, first_loading
from attrbench.results import UnitRecords

__all__ = ["ReferenceBatch", "lost_records", "merge_frames"]


class ReferenceBatch:
    """A one-sample prepared batch of the run: the first sample that loaded (module docstring).

    Args:
        ctx: the opened run.
    """

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.batch: Batch | None = None

    def offer(self, batch: Batch) -> None:
        """Keep the first sample of the first prepared batch seen."""
        if self.batch is None and len(batch):
            b = batch
            self.batch = Batch(b.images[:1], b.labels[:1], b.ids[:1], None if b.masks is None else b.masks[:1],
                               None if b.bboxes is None else b.bboxes[:1], None if b.parts is None else b.parts[:1])  # fmt: skip

    def get(self) -> Batch:
        """The reference batch, loading the first sample that loads if no batch was offered yet."""
        if self.batch is None:
            _, sample = first_loading(self.ctx.samples, limit=len(self.ctx.samples))
            self.batch = self.ctx.prepare_batch(collate([sample]))  # type: ignore[list-item]
        return self.batch


def lost_records(ctx: RunContext, method: PreparedMethod, lost: Sequence[FailedSample], *, reference: Batch,
                 run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Failed records of the samples ``lost`` for ``method`` (module docstring).

    Args:
        ctx: the opened run.
        method: one of ``ctx.methods`` (its label is the ``method`` column).
        lost: the samples of one batch that did not load; ``index`` is the position in the run.
        reference: a prepared batch whose value names the lost samples would have had.
        run_id: the ``run_id`` column.

    Returns:
        (records, curves): records with :data:`attrbench.results.RECORD_COLUMNS`, curves empty.
    """
    out = UnitRecords(run_id=run_id, dataset=str(ctx.config.dataset), model=str(ctx.config.model), method=method.label)
    index = torch.tensor([f.index for f in lost], dtype=torch.long)
    for metric in ctx.metrics:
        keep = metric.selects(index).tolist()
        ids = [f.sample_id for f, k in zip(lost, keep) if k]
        reasons = [f"sample could not be loaded: {f.reason}" for f, k in zip(lost, keep) if k]
        for name in metric.value_names(model=ctx.model, batch=reference):
            out.add(metric=name, ids=ids, values=np.full(len(ids), np.nan), errors=reasons,
                    higher_is_better=metric.higher_is_better(name), category=metric.info.category.value)  # fmt: skip
    return out.frames()


def merge_frames(parts: Sequence[tuple[pd.DataFrame, pd.DataFrame]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate the (records, curves) of one unit's parts, in order (empty parts dropped)."""

    def cat(frames: list[pd.DataFrame]) -> pd.DataFrame:
        full = [f for f in frames if len(f)]
        return pd.concat(full, ignore_index=True) if full else frames[0]

    return cat([r for r, _ in parts]), cat([c for _, c in parts])
