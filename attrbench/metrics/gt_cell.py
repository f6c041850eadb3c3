"""Ground-truth agreement at the cell grid: maps against the exact cell Shapley values.

The truth is :func:`attrbench.cell_truth.cell_truth`: Shapley values of the explained logit over
c x c pixel cells (default c = 8), absent cells filled with the method's own baseline when it has
one (``needs_baseline``), else with ``fill`` (default 0, black); exact on BagNet-9/17, sampled with
a standard error on BagNet-33 and on other models (orders seeded by the batch's sample ids XOR the run
seed, so every
method of a run is scored against the same truth, computed once per batch and cached) (Shapley, 1953; Brendel & Bethge, ICLR 2019,
arXiv 1904.00760 for the window locality; docs/ground-truth.md).

The map is brought to the cell grid by one rule: the sum of its post-processed pixel values over
each cell, counting only pixels some output sees (:func:`attrbench.geometry.patch_coverage`);
cells no window touches are left out. The statistics are those of ``gt``
(:func:`attrbench.metrics.gt.agreement`) under the prefix ``cellgt`` so a record says which truth
and resolution it was scored against:

    cellgt_spearman, cellgt_pearson, cellgt_topk_precision@k, cellgt_positive_mass, cellgt_sign_agreement,
    cellgt_<sign metric>_chance, cellgt_<sign metric>_corrected   (chance level and corrected value,
    :mod:`attrbench.metrics.chance`; declared ranges as for ``gt``)
"""

from __future__ import annotations

import zlib
from typing import Any, ClassVar

import torch

from attrbench.api import Batch, MetricCategory, MetricInfo
from attrbench.cell_truth import CellTruth, cell_sums, cell_truth
from attrbench.geometry import patch_coverage
from attrbench.metrics.base import Metric, MetricContext, MetricResult
from attrbench.metrics.chance import chance_outputs, chance_ranges, chance_values
from attrbench.stats import ValueRange
from attrbench.metrics.gt import agreement, chance_reasons, topk_name
from attrbench.models.common import ImageModel

__all__ = ["CellGroundTruthAgreement"]


class CellGroundTruthAgreement(Metric):
    """Agreement of a map with the cell Shapley truth (module docstring).

    Args:
        cell: cell side in pixels.
        fill: pixel fill of absent cells for methods without a baseline.
        topk: percentages for ``cellgt_topk_precision@k``.
        permutations: sampled orders where the truth is not enumerated exactly.
        max_exact_players: enumerate exactly up to this many players per window.
    """

    info: ClassVar[MetricInfo] = MetricInfo(
        name="gt_cell",
        category=MetricCategory.GROUND_TRUTH,
        needs_model=True,
        reference="Shapley 1953 over pixel cells, through BagNet windows (Brendel & Bethge, ICLR 2019); docs/ground-truth.md",
    )
    outputs: ClassVar[dict[str, bool]] = {
        "cellgt_spearman": True,
        "cellgt_pearson": True,
        "cellgt_topk_precision": True,
        "cellgt_positive_mass": True,
        "cellgt_sign_agreement": True,
        **chance_outputs("cellgt"),
    }
    ranges: ClassVar[dict[str, ValueRange]] = {
        "cellgt_spearman": ValueRange(low=-1.0, high=1.0),
        "cellgt_pearson": ValueRange(low=-1.0, high=1.0),
        "cellgt_topk_precision": ValueRange(low=0.0, high=1.0),
        **chance_ranges("cellgt"),
    }

    def __init__(
        self,
        *,
        cell: int = 8,
        fill: float = 0.0,
        topk: tuple[float, ...] = (5, 10, 20),
        permutations: int = 64,
        max_exact_players: int = 12,
    ) -> None:
        if isinstance(cell, bool) or not isinstance(cell, int) or cell < 1:
            raise ValueError(f"gt_cell: cell must be a positive integer, got {cell!r}")
        if isinstance(topk, (int, float)):
            topk = (topk,)
        if not topk or any(not 0 < k <= 100 for k in topk):
            raise ValueError(f"gt_cell: topk percentages must lie in (0, 100], got {topk}")
        self.cell = cell
        self.fill = float(fill)
        self.topk = tuple(topk)
        self.permutations = int(permutations)
        self.max_exact_players = int(max_exact_players)
        self._cache: dict[tuple, CellTruth] = {}  # the truth depends on the images, not the method

    def value_names(self, *, model: ImageModel, batch: Batch) -> list[str]:
        return [
            "cellgt_spearman",
            "cellgt_pearson",
            *(topk_name("cellgt", k) for k in self.topk),
            "cellgt_positive_mass",
            "cellgt_sign_agreement",
            *(n for n in chance_outputs("cellgt")),
        ]

    def scoring(self) -> dict[str, Any]:
        """Cell Shapley truth at the c x c cell grid (values ``cellgt_*``)."""
        return {"resolution": f"cell grid ({self.cell} x {self.cell} px)",
                "truth": f"cell Shapley values (absent cells: the method's baseline, else fill {self.fill})",
                "aggregation": "sum of the map over each cell's seen pixels; cells no window touches left out",
                "prefix": "cellgt"}  # fmt: skip

    def compute(self, ctx: MetricContext) -> MetricResult:
        baseline = ctx.baseline if ctx.method_info.needs_baseline and ctx.baseline is not None else self.fill
        key = (id(ctx.model), ctx.run_seed, tuple(ctx.batch.ids), tuple(ctx.batch.labels.tolist()), float(baseline))
        def compute() -> CellTruth:
            return cell_truth(
                ctx.model, ctx.batch.images, labels=ctx.batch.labels, baseline=baseline, cell=self.cell,
                max_exact_players=self.max_exact_players, permutations=self.permutations,
                seed=zlib.crc32("\n".join(ctx.batch.ids).encode()) ^ (ctx.run_seed & 0x7FFFFFFF), max_batch=ctx.max_forward_batch,
            )  # fmt: skip

        if ctx.truths is not None:  # the run's bounded cache, shared by every method
            truth = ctx.truths.get(("cell", self.cell, self.permutations, self.max_exact_players, *key), compute)
        else:
            if key not in self._cache:
                self._cache[key] = compute()
            truth = self._cache[key]
        size = tuple(ctx.maps.shape[-2:])
        covered = patch_coverage(ctx.rf, size=size)  # type: ignore[arg-type]
        grid = cell_sums(ctx.maps, cell=self.cell, covered=covered)
        keep = truth.covered.flatten().to(grid.device)
        a, g = grid.flatten(1)[:, keep], truth.values.flatten(1)[:, keep].to(grid.device)
        values, reasons = agreement(a, g, topk=self.topk, prefix="cellgt")
        values.update(chance_values(a.to(torch.float64), g.to(torch.float64), values, prefix="cellgt"))
        reasons.update(chance_reasons("cellgt"))
        return MetricResult(values=values, reasons=reasons)
