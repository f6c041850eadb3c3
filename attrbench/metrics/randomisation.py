"""Cascading model-parameter randomisation (Adebayo et al., NeurIPS 2018, arXiv 1810.03292).

Top-down and cumulative: on a deep copy of the model, re-initialise the last stage (``fc``),
re-explain, compare with the original map; then additionally ``layer4``, ``layer3``, ... down
to the stem. A map that stays similar while the weights it should depend on are destroyed fails
the sanity check, so **lower similarity is better**. Per stage s the metric emits

    mprt_spearman@s   Spearman rank correlation of |map| before and after (Adebayo et al.'s
                      "absolute value" variant),
    mprt_ssim@s       SSIM (11x11 Gaussian window, sigma 1.5) of the min-max normalised maps.

Both are computed over the pixels some model output sees only (:func:`attrbench.geometry.patch_coverage`;
every pixel for models without a patch grid): Spearman over the seen pixels, SSIM over the seen
region (for a BagNet, the top-left rectangle its windows tile). Unseen pixels are exactly zero in
every gradient map, before and after randomisation, and would otherwise inflate the similarity.

Noise floor (``floor=True``): the similarity of the maps of two *independently* randomised models
(the same modules as the last stage, re-initialised under another seed: run seed + 1000 + stage
index), ``mprt_floor_spearman`` and ``mprt_floor_ssim``. A method whose ``mprt_*@stage`` values sit
at this floor has lost all dependence on the weights that the randomisation can show; values above
it mean the map still shares structure with the original (issue 10: two randomised models agree
at 0.76 on unseen pixels alone, so the floor, not 0, is the reference).

Stages are the top-level children of the network (``model.net``) that hold parameters, in
reverse order; the leading leaf modules before the first container (a BagNet's conv1, conv2,
bn1) form one stage, "stem". Re-initialisation calls each module's ``reset_parameters`` under
``torch.manual_seed(run seed + stage index)`` (PyTorch's default initialisation; BatchNorm gets
gamma = 1, beta = 0 and fresh running statistics, as in Quantus's MPRT). The run seed is the same
for every method and batch, so all methods of a run are compared on the same randomised models
(``ig`` and ``ig[n_steps=32]``, the same computation, get identical values). The method is re-run
with the same seed as for the original map, so stochastic methods do not look "sensitive"
because of their own noise. Only samples with run index < ``max_samples`` are scored (the run
scores its samples in draw order, so with stratified sampling these are ``max_samples`` different
classes while there are that many; :mod:`attrbench.sampling`), and only they are re-explained when the context's ``explain`` accepts ``rows`` (every stage re-runs the
method).
"""

from __future__ import annotations

import copy
import inspect
from typing import ClassVar

import torch
from torch import Tensor, nn

from attrbench.api import Batch, MetricCategory, MetricInfo
from attrbench.errors import OptionError
from attrbench.geometry import patch_coverage
from attrbench.metrics.base import Metric, MetricContext, MetricResult
from attrbench.metrics.functional import minmax, spearman, ssim
from attrbench.models.common import ImageModel
from attrbench.stats import ValueRange

__all__ = ["Randomisation", "randomisation_stages"]


def _network(model: nn.Module) -> tuple[str, nn.Module]:
    return ("net.", model.net) if isinstance(model, ImageModel) else ("", model)


def randomisation_stages(model: nn.Module) -> list[tuple[str, list[str]]]:
    """Top-down stages as (stage name, [module paths relative to ``model``]).

    Example (BagNet): [("fc", ["net.fc"]), ("layer4", ["net.layer4"]), ..., ("stem", ["net.conv1",
    "net.conv2", "net.bn1"])].
    """
    prefix, net = _network(model)
    children = [(name, m) for name, m in net.named_children() if any(True for _ in m.parameters())]
    stem: list[str] = []
    rest: list[tuple[str, list[str]]] = []
    for name, module in children:
        if not rest and not any(True for _ in module.children()):
            stem.append(prefix + name)
        else:
            rest.append((name, [prefix + name]))
    stages = list(reversed(rest))
    if stem:
        stages.append(("stem", stem))
    return stages


def _reinitialise(module: nn.Module) -> None:
    for m in module.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()


class Randomisation(Metric):
    """Cascading parameter randomisation (module docstring).

    Args:
        max_samples: score only samples whose run index is below this. Each stage re-runs the
            method, so the cost is about (number of stages) x max_samples attributions: with the
            default 2 and IG on the embedded default, randomisation is ~1/4 of the run's time
            (``randomisation[max_samples=16]`` for a fuller check).
        max_stages: stop after this many top-down stages (None = all, down to the stem).
        floor: also emit the random-vs-random noise floor (module docstring; one more explanation).
    """

    info: ClassVar[MetricInfo] = MetricInfo(
        name="randomisation",
        category=MetricCategory.RANDOMISATION,
        needs_model=True,
        reference="Adebayo et al., NeurIPS 2018, arXiv 1810.03292 (cascading, top-down)",
    )
    outputs: ClassVar[dict[str, bool]] = {"mprt_spearman": False, "mprt_ssim": False,
                                          "mprt_floor_spearman": False, "mprt_floor_ssim": False}  # fmt: skip
    #: both similarities lie in [-1, 1] (identical maps: 1).
    ranges: ClassVar[dict[str, ValueRange]] = {
        "mprt_spearman": ValueRange(low=-1.0, high=1.0),
        "mprt_ssim": ValueRange(low=-1.0, high=1.0),
        "mprt_floor_spearman": ValueRange(low=-1.0, high=1.0),
        "mprt_floor_ssim": ValueRange(low=-1.0, high=1.0),
    }

    def __init__(self, *, max_samples: int = 2, max_stages: int | None = None, floor: bool = False) -> None:
        if max_samples < 1:
            raise OptionError(f"randomisation: max_samples must be >= 1, got {max_samples}")
        if max_stages is not None and max_stages < 1:
            raise OptionError(f"randomisation: max_stages must be >= 1 or None, got {max_stages}")
        self.max_samples = int(max_samples)
        self.max_stages = max_stages
        self.floor = bool(floor)

    def _stages(self, model: nn.Module) -> list[tuple[str, list[str]]]:
        stages = randomisation_stages(model)
        return stages if self.max_stages is None else stages[: self.max_stages]

    def value_names(self, *, model: ImageModel, batch: Batch) -> list[str]:
        names = []
        for stage, _ in self._stages(model):
            names += [f"mprt_spearman@{stage}", f"mprt_ssim@{stage}"]
        return names + (["mprt_floor_spearman", "mprt_floor_ssim"] if self.floor else [])

    def selects(self, sample_index: Tensor) -> Tensor:
        return sample_index < self.max_samples

    def compute(self, ctx: MetricContext) -> MetricResult:
        present = self.selects(ctx.sample_index)
        b = present.shape[0]
        values: dict[str, Tensor] = {}
        stages = self._stages(ctx.model)
        if not bool(present.any()):
            nan = torch.full((b,), float("nan"), dtype=torch.float64, device=present.device)
            for name in self.value_names(model=ctx.model, batch=ctx.batch):
                values[name] = nan
            return MetricResult(values=values, present=present)
        rows = present.nonzero().flatten()
        seen = _seen_region(ctx)
        original = ctx.maps[rows].to(torch.float64)
        before_abs = _seen_pixels(original.abs(), seen)
        before_norm = minmax(_crop(original, seen))
        randomised = copy.deepcopy(ctx.model)
        modules = dict(randomised.named_modules())
        device = next(randomised.parameters()).device
        for i, (stage, paths) in enumerate(stages):
            devices = [device] if device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(ctx.run_seed + i)
                for path in paths:
                    _reinitialise(modules[path])
            after = _explain_rows(ctx, randomised, rows).detach().to(torch.float64)
            finite = torch.isfinite(after.flatten(1)).all(dim=1)
            after = torch.where(finite.view(-1, 1, 1, 1), after, torch.zeros_like(after))
            nan = torch.full_like(finite, float("nan"), dtype=torch.float64)
            rho = torch.where(finite, spearman(before_abs, _seen_pixels(after.abs(), seen)), nan)
            sim = torch.where(finite, ssim(before_norm, minmax(_crop(after, seen))), nan)
            for name, v in ((f"mprt_spearman@{stage}", rho), (f"mprt_ssim@{stage}", sim)):
                values[name] = torch.full((b,), float("nan"), dtype=torch.float64, device=v.device).index_copy(0, rows, v)
        if self.floor:
            values.update(self._floor(ctx, rows, b, stages, after, seen))
        reasons = {
            name: "undefined: a map is constant, or the method gave NaN/inf on the randomised model"
            for name in values
        }
        return MetricResult(values=values, reasons=reasons, present=present)


    def _floor(self, ctx: MetricContext, rows: Tensor, b: int, stages: list[tuple[str, list[str]]], after: Tensor,
               seen: tuple[Tensor, tuple[int, int, int, int]] | None) -> dict[str, Tensor]:  # fmt: skip
        """Similarity of ``after`` (the last stage's maps) with those of an independently randomised copy."""
        other = copy.deepcopy(ctx.model)
        modules = dict(other.named_modules())
        device = next(other.parameters()).device
        for i, (_, paths) in enumerate(stages):
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(ctx.run_seed + 1000 + i)
                for path in paths:
                    _reinitialise(modules[path])
        second = _explain_rows(ctx, other, rows).detach().to(torch.float64)
        finite = torch.isfinite(second.flatten(1)).all(dim=1) & torch.isfinite(after.flatten(1)).all(dim=1)
        second = torch.where(finite.view(-1, 1, 1, 1), second, torch.zeros_like(second))
        nan = torch.full_like(finite, float("nan"), dtype=torch.float64)
        rho = torch.where(finite, spearman(_seen_pixels(after.abs(), seen), _seen_pixels(second.abs(), seen)), nan)
        sim = torch.where(finite, ssim(minmax(_crop(after, seen)), minmax(_crop(second, seen))), nan)
        out = {}
        for name, v in (("mprt_floor_spearman", rho), ("mprt_floor_ssim", sim)):
            out[name] = torch.full((b,), float("nan"), dtype=torch.float64, device=v.device).index_copy(0, rows, v)
        return out


def _seen_region(ctx: MetricContext) -> tuple[Tensor, tuple[int, int, int, int]] | None:
    """(seen-pixel mask (H, W), bounding box (top, bottom, left, right)) or None when every pixel is seen."""
    covered = patch_coverage(ctx.rf, size=tuple(ctx.maps.shape[-2:]))  # type: ignore[arg-type]
    if covered is None or bool(covered.all()):
        return None
    mask = covered[0, 0].to(ctx.maps.device)
    rows, cols = mask.any(dim=1).nonzero().flatten(), mask.any(dim=0).nonzero().flatten()
    return mask, (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def _seen_pixels(maps: Tensor, seen: tuple[Tensor, tuple[int, int, int, int]] | None) -> Tensor:
    """(B, P): the seen pixels of (B, 1, H, W) maps (all H * W pixels when ``seen`` is None)."""
    return maps.flatten(1) if seen is None else maps[:, 0][:, seen[0]]


def _crop(maps: Tensor, seen: tuple[Tensor, tuple[int, int, int, int]] | None) -> Tensor:
    """(B, 1, h, w): the maps on the bounding box of the seen pixels (for SSIM's windows)."""
    if seen is None:
        return maps
    top, bottom, left, right = seen[1]
    return maps[..., top:bottom, left:right]


def _explain_rows(ctx: MetricContext, model: nn.Module, rows: Tensor) -> Tensor:
    """Maps of the samples ``rows`` on ``model``: only those samples when ``explain`` takes ``rows``."""
    try:
        takes_rows = "rows" in inspect.signature(ctx.explain).parameters
    except (TypeError, ValueError):  # a callable without an inspectable signature
        takes_rows = False
    if takes_rows:
        return ctx.explain(model, rows=rows)
    return ctx.explain(model)[rows]
