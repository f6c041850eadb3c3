"""Ground-truth agreement on BagNets at the patch grid.

A BagNet's logit is the mean of per-patch logits (Brendel & Bethge, ICLR 2019, arXiv 1904.00760),
so the exact contribution of patch p to class c is known (:func:`attrbench.ground_truth.patch_truth`):

    g_p = (l_p(x) - l_p(b)) / N      for methods with a baseline b (baseline-matched truth),
    g_p = (l_p(x) - bias_c) / N      otherwise (patch evidence net of the fc bias).

The map is brought to the grid by :func:`attrbench.ground_truth.pixels_to_patches` with the
declared rule (default "rf_sum"), or used as it is when the method's reduced raw map already has
the grid's shape (CAMs at the last BagNet layer). Under rule "lstsq" every map goes through the
rule, grid maps too (they come back exactly), so a raw map gets the same score whatever resolution
it declares and the pixel family's ceiling is 1 (:mod:`attrbench.ceilings`). Values per sample (all higher is better):

    gt_spearman             Spearman rank correlation of map and truth over the N patches.
    gt_pearson              Pearson correlation.
    gt_topk_precision@k     |top-k% patches of the map  and  top-k% of the truth| / k%, k = 5, 10, 20
                            (count = max(1, round(k/100 * N)); stable tie-break by patch index).
    gt_positive_mass        share of the map's positive mass on truly positive patches:
                            sum_{g_p > 0} relu(a_p) / sum_p relu(a_p) (NaN if the map has no positive mass).
    gt_sign_agreement       fraction of patches with sign(a_p) == sign(g_p).
    gt_<sign metric>_chance     its chance level for this sample (:mod:`attrbench.metrics.chance`:
                                the expected value under a random permutation of the map),
    gt_<sign metric>_corrected  (value - chance) / (1 - chance): 0 for a random map, 1 for a perfect one.

Declared ranges (:class:`attrbench.stats.ValueRange`): correlations in [-1, 1], top-k precisions,
the sign metrics and their chance levels in [0, 1], corrected values at most 1.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from attrbench.api import Batch, MetricCategory, MetricInfo
from attrbench.errors import OptionError, OptionTypeError
from attrbench.ground_truth import AGGREGATIONS, patch_truth, pixels_to_patches
from attrbench.metrics.base import Metric, MetricContext, MetricResult
from attrbench.metrics.chance import chance_outputs, chance_ranges, chance_values
from attrbench.stats import ValueRange
from attrbench.metrics.functional import descending_ranks, pearson, spearman, topk_count
from attrbench.models.common import ImageModel

__all__ = ["GroundTruthAgreement", "agreement", "chance_reasons", "topk_name"]


class GroundTruthAgreement(Metric):
    """Agreement of a map with the exact BagNet patch contributions (module docstring).

    Args:
        rule: pixel -> patch aggregation rule ("rf_sum", "share" or "lstsq").
        topk: percentages for ``gt_topk_precision@k``.
    """

    info: ClassVar[MetricInfo] = MetricInfo(
        name="gt",
        category=MetricCategory.GROUND_TRUTH,
        needs_ground_truth=True,
        needs_model=True,
        reference="BagNet patch logits (Brendel & Bethge, ICLR 2019, arXiv 1904.00760); docs/bagnet.md",
    )
    outputs: ClassVar[dict[str, bool]] = {
        "gt_spearman": True,
        "gt_pearson": True,
        "gt_topk_precision": True,
        "gt_positive_mass": True,
        "gt_sign_agreement": True,
        **chance_outputs("gt"),
    }
    ranges: ClassVar[dict[str, ValueRange]] = {
        "gt_spearman": ValueRange(low=-1.0, high=1.0),
        "gt_pearson": ValueRange(low=-1.0, high=1.0),
        "gt_topk_precision": ValueRange(low=0.0, high=1.0),
        **chance_ranges("gt"),
    }

    def __init__(self, *, rule: str = "rf_sum", topk: tuple[float, ...] = (5, 10, 20)) -> None:
        if rule not in AGGREGATIONS:
            raise OptionError(f"gt: unknown aggregation rule {rule!r}; choose from {AGGREGATIONS}")
        if isinstance(topk, (int, float)):
            topk = (topk,)
        if not topk or any(not 0 < k <= 100 for k in topk):
            raise OptionError(f"gt: topk percentages must lie in (0, 100], got {topk}")
        self.rule = rule
        self.topk = tuple(topk)

    def value_names(self, *, model: ImageModel, batch: Batch) -> list[str]:
        return [
            "gt_spearman",
            "gt_pearson",
            *(topk_name("gt", k) for k in self.topk),
            "gt_positive_mass",
            "gt_sign_agreement",
            *(n for n in chance_outputs("gt")),
        ]

    def scoring(self) -> dict[str, Any]:
        """Patch truth at the BagNet patch grid (values ``gt_*``)."""
        rule = {"rf_sum": "sum of the map over each patch's receptive field",
                "share": "each pixel shared evenly among the patches that see it",
                "lstsq": "least-squares patch values whose placed map reproduces the pixels"}[self.rule]  # fmt: skip
        return {"resolution": "patch grid", "truth": "patch logits (baseline-matched for methods with a baseline)",
                "aggregation": f"{self.rule}: {rule}" + ("" if self.rule == "lstsq" else "; maps already on the grid as they are"),
                "prefix": "gt"}  # fmt: skip

    def compute(self, ctx: MetricContext) -> MetricResult:
        if ctx.rf is None or not ctx.model.has_patch_logits:
            raise OptionTypeError(f"metric 'gt' needs a model with patch ground truth; {ctx.model.spec.name!r} has none")
        labels = ctx.batch.labels
        baseline = ctx.baseline if ctx.method_info.needs_baseline else None
        if ctx.truths is not None:  # once per batch and baseline, whatever the method
            truth = ctx.truths.patch_truth(ctx.model, ctx.batch.images, ids=ctx.batch.ids, labels=labels, baseline=baseline)
        else:
            truth = patch_truth(ctx.model, ctx.batch.images, labels=labels, baseline=baseline)  # (B, H', W')
        if ctx.grid_map is not None and self.rule != "lstsq":
            grid = ctx.grid_map
        else:
            grid = pixels_to_patches(ctx.maps, rf=ctx.rf, rule=self.rule)  # type: ignore[arg-type]
        if grid.shape != truth.shape:
            raise ValueError(
                f"gt: map on the patch grid has shape {tuple(grid.shape)}, truth has {tuple(truth.shape)}"
            )
        a, g = grid.flatten(1), truth.flatten(1)
        values, reasons = agreement(a, g, topk=self.topk, prefix="gt")
        values.update(chance_values(a.to(torch.float64), g.to(torch.float64), values, prefix="gt"))
        reasons.update(chance_reasons("gt"))
        return MetricResult(values=values, reasons=reasons)


def chance_reasons(prefix: str) -> dict[str, str]:
    """Why a chance value is NaN (the raw value is undefined, or the chance level is 1)."""
    return {f"{prefix}_{m}{sfx}": "undefined: the value is undefined or its chance level is 1"
            for m in ("positive_mass", "sign_agreement") for sfx in ("_chance", "_corrected")}  # fmt: skip


def topk_name(prefix: str, k: float) -> str:
    """Value name of the top-k precision, e.g. ``gt_topk_precision@5``."""
    return f"{prefix}_topk_precision@{int(k) if float(k).is_integer() else k}"


def agreement(
    map_values: Tensor, truth: Tensor, *, topk: tuple[float, ...], prefix: str
) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The agreement statistics of the module docstring for (B, N) map values and truth.

    Shared by ``gt`` (patch grid, ``prefix="gt"``) and ``gt_cell`` (cell grid, ``prefix="cellgt"``).

    Returns:
        (values, reasons): value name -> (B,) float64, and why a NaN value is undefined.
    """
    a = map_values.to(torch.float64)
    g = truth.to(torch.float64)
    n = a.shape[1]
    undefined = "correlation undefined: the map (or the truth) is constant over the units"
    values = {f"{prefix}_spearman": spearman(a, g), f"{prefix}_pearson": pearson(a, g)}
    reasons = {f"{prefix}_spearman": undefined, f"{prefix}_pearson": undefined}
    rank_a, rank_g = descending_ranks(a), descending_ranks(g)
    for k in topk:
        count = topk_count(n, k)
        hits = ((rank_a < count) & (rank_g < count)).sum(dim=1)
        values[topk_name(prefix, k)] = hits.to(torch.float64) / count
    pos = a.clamp_min(0)
    total = pos.sum(dim=1)
    inside = (pos * (g > 0)).sum(dim=1)
    nan = torch.full_like(total, float("nan"))
    values[f"{prefix}_positive_mass"] = torch.where(total > 0, inside / total.clamp_min(1e-300), nan)
    reasons[f"{prefix}_positive_mass"] = "undefined: the map has no positive mass"
    values[f"{prefix}_sign_agreement"] = (torch.sign(a) == torch.sign(g)).to(torch.float64).mean(dim=1)
    return values, reasons
