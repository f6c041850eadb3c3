"""Batched deletion / insertion curves (Petsiuk et al., RISE, BMVC 2018, arXiv 1806.07421).

Convention (the one of torchcam's ``DeletionInsertionMetric``; docs/metrics.md):

* units: the map (B, 1, H, W) is summed over non-overlapping ``unit`` x ``unit`` blocks anchored
  at pixel (0, 0) (so 8 x 8 blocks coincide with the BagNet stride grid); ``unit=1`` ranks pixels.
  A block cut by the image border is a smaller unit. The mask is shared by all channels.
* coverage: pixels no model output sees (``covered`` False, :func:`attrbench.geometry.patch_coverage`)
  are not counted: a unit's score sums its covered pixels only, and a unit with no covered pixel
  is removed (deletion) / inserted (insertion) last, after every seen unit, whatever the map says
  there. Removing it changes no output of the model (it is unseen), so the curve is flat from the
  last seen unit on and the map's values on unseen pixels change no score.
* order: units sorted by decreasing map value. Ties are broken by ``tie_keys`` when given (the
  unit with the smaller key first; :func:`tie_keys` draws them uniformly at random per sample,
  seeded by (seed, sample index, order), so a sample's order does not depend on its batch), else
  by the lower row-major index. The metrics average the curves over several random tie orders.
* steps: ``s = ceil(U / steps)`` units per step; the curve has points at
  counts = 0, s, 2s, ..., (< U), U, i.e. it includes the unperturbed point (count 0) and the
  fully perturbed one; the x-axis is count / U in [0, 1].
* deletion: the top ``count`` units take the fill value; insertion: the top ``count`` units keep
  the image and all others take the fill value (so insertion starts at the fill image).
* fill: "zero" (0 in pixel space, i.e. black: the model normalises inside), "mean" (per-sample,
  per-channel mean colour) or "blur" (Gaussian blur of the image, sigma ``blur_sigma`` px).
* score: the target on the model output ("logit"), or the class probability ("probability").
* AUC: trapezoid rule of the scores over the fractions (torch.trapezoid), per sample ("raw" AUC,
  in score units). The normalised AUC (:func:`normalised_auc`) rescales the curve by the two
  end points, s -> (s - f(fill)) / (f(x) - f(fill)), so that it runs from 1 to 0 (deletion) or
  0 to 1 (insertion) whatever the logit scale: AUC_norm = (AUC - f(fill)) / (f(x) - f(fill)).
  A map in random order scores 0.5 on an additive model in expectation. Undefined (NaN) when
  |f(x) - f(fill)| <= 1e-9 * max(1, |f(x)|, |f(fill)|): removing everything changes nothing.

All perturbed copies of a batch are stacked and sent through the model in chunks of at most
``max_forward_batch`` images (size: ``forward_batch``); no per-sample Python loop. On BagNets
fine curves are computed incrementally and exactly (``engine``, :mod:`attrbench.metrics.curve_engine`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attrbench.api import ClassLogit, ClassProbability, Target
from attrbench.errors import OptionError
from attrbench.metrics.curve_engine import forward_plan, incremental_outputs, score_outputs
from attrbench.probe import cpu_threads

__all__ = [
    "FILLS",
    "SCORES",
    "fill_images",
    "covered_unit_scores",
    "has_ties",
    "normalised_auc",
    "perturbation_curves",
    "rank_scores",
    "score_target",
    "tie_keys",
    "unit_ranks",
    "unit_scores",
]

FILLS: tuple[str, ...] = ("zero", "mean", "blur")
SCORES: tuple[str, ...] = ("logit", "probability")


def fill_images(images: Tensor, *, fill: str, blur_sigma: float = 5.0) -> Tensor:
    """The replacement content for perturbed units, (B, C, H, W)."""
    if fill == "zero":
        return torch.zeros_like(images)
    if fill == "mean":
        return images.mean(dim=(2, 3), keepdim=True).expand_as(images)
    if fill == "blur":
        radius = max(1, int(math.ceil(3 * blur_sigma)))
        coords = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
        g = torch.exp(-(coords**2) / (2 * blur_sigma**2))
        g = g / g.sum()
        c = images.shape[1]
        pad_h = min(radius, images.shape[-2] - 1)
        pad_w = min(radius, images.shape[-1] - 1)
        # reflect padding keeps the border colours; a kernel wider than the image is cropped
        x = F.pad(images, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
        gh = g[radius - pad_h : radius + pad_h + 1].view(1, 1, -1, 1).expand(c, 1, -1, 1)
        gw = g[radius - pad_w : radius + pad_w + 1].view(1, 1, 1, -1).expand(c, 1, 1, -1)
        x = F.conv2d(x, gh / gh.sum(dim=2, keepdim=True), groups=c)
        return F.conv2d(x, gw / gw.sum(dim=3, keepdim=True), groups=c)
    raise OptionError(f"unknown fill {fill!r}; choose from {FILLS}")


def unit_scores(maps: Tensor, *, unit: int) -> tuple[Tensor, tuple[int, int]]:
    """Summed map value per unit: (B, U) and the unit grid (Hu, Wu), U = Hu * Wu (maps (B, 1, H, W))."""
    h, w = maps.shape[-2:]
    hu, wu = -(-h // unit), -(-w // unit)
    padded = F.pad(maps[:, 0], (0, wu * unit - w, 0, hu * unit - h))
    return padded.view(-1, hu, unit, wu, unit).sum(dim=(2, 4)).flatten(1), (hu, wu)


def covered_unit_scores(maps: Tensor, *, unit: int, covered: Tensor | None) -> tuple[Tensor, tuple[int, int]]:
    """:func:`unit_scores` over covered pixels only; units without a covered pixel score -inf.

    Args:
        maps: (B, 1, H, W).
        covered: (1, 1, H, W) bool pixels some output sees; None = every pixel.

    Returns:
        (B, U) scores and the unit grid (Hu, Wu).
    """
    if covered is None:
        return unit_scores(maps, unit=unit)
    covered = covered.to(maps.device)
    scores, grid = unit_scores(torch.where(covered, maps, torch.zeros_like(maps)), unit=unit)
    seen, _ = unit_scores(covered.to(maps.dtype), unit=unit)
    return torch.where(seen > 0, scores, torch.full_like(scores, -math.inf)), grid


def has_ties(scores: Tensor) -> Tensor:
    """(B,) bool: some two seen units of the sample have exactly the same score (scores (B, U)).

    Unseen units (score -inf, :func:`covered_unit_scores`) are not ties: their order changes nothing.
    """
    ordered = torch.sort(scores, dim=1).values
    return ((ordered[:, 1:] == ordered[:, :-1]) & torch.isfinite(ordered[:, 1:])).any(dim=1)


def tie_keys(sample_index: Tensor | list[int], *, seed: int, order: int, units: int) -> Tensor:
    """(B, U) float64 uniform keys for order ``order`` of each sample, seeded by (seed, sample, order).

    One small generator per sample (the draw, not the scoring, loops over samples) so that a
    sample's tie order is the same in every batch composition and on resume. ``sample_index``
    is a (B,) tensor (keys on its device) or a list of ints already on the host (keys on the CPU:
    a caller drawing several orders transfers the indices once).
    """
    import numpy as np

    samples = sample_index.tolist() if torch.is_tensor(sample_index) else sample_index
    device = sample_index.device if torch.is_tensor(sample_index) else None
    keys = [np.random.default_rng([int(seed), int(i), int(order)]).random(units) for i in samples]
    return torch.as_tensor(np.stack(keys), dtype=torch.float64, device=device)


def rank_scores(scores: Tensor, *, keys: Tensor | None = None) -> Tensor:
    """(B, U) int64 ranks by decreasing score (0 = first removed); ties by ``keys``, else row-major."""
    if keys is None:
        order = torch.argsort(scores, dim=1, descending=True, stable=True)
    else:
        perm = torch.argsort(keys, dim=1, stable=True)  # tie-break order first, then a stable score sort
        inner = torch.argsort(scores.gather(1, perm), dim=1, descending=True, stable=True)
        order = perm.gather(1, inner)
    return torch.argsort(order, dim=1)


def unit_ranks(maps: Tensor, *, unit: int, keys: Tensor | None = None,
               covered: Tensor | None = None) -> tuple[Tensor, tuple[int, int]]:  # fmt: skip
    """Rank units by decreasing summed map value (ties by ``keys`` (B, U), else row-major).

    Args:
        maps: (B, 1, H, W).
        unit: block side in pixels.
        keys: optional (B, U) tie-break keys (smaller first), e.g. from :func:`tie_keys`.
        covered: (1, 1, H, W) bool seen pixels (:func:`covered_unit_scores`); None = all.

    Returns:
        ranks (B, U) int64 (0 = most important) and the unit grid (Hu, Wu), U = Hu * Wu.
    """
    scores, grid = covered_unit_scores(maps, unit=unit, covered=covered)
    return rank_scores(scores, keys=keys), grid


def normalised_auc(auc: Tensor, *, f_x: Tensor, f_fill: Tensor) -> Tensor:
    """(AUC - f(fill)) / (f(x) - f(fill)) per sample, NaN where the end points coincide (module docstring)."""
    denom = f_x - f_fill
    scale = torch.maximum(torch.ones_like(f_x), torch.maximum(f_x.abs(), f_fill.abs()))
    defined = denom.abs() > 1e-9 * scale
    return torch.where(defined, (auc - f_fill) / torch.where(defined, denom, torch.ones_like(denom)),
                       torch.full_like(auc, float("nan")))


def step_counts(units: int, steps: int) -> list[int]:
    """Unit counts at the curve points: 0, s, 2s, ..., U with s = ceil(U / steps)."""
    s = -(-units // steps)
    return [*range(0, units, s), units]


def score_target(target: Target, score: str) -> Target:
    """The target scored on the curves: ``target`` itself ("logit") or its class probability."""
    if score == "logit":
        return target
    if score == "probability":
        if not isinstance(target, ClassLogit):
            raise OptionError(f"score='probability' needs a class target, got {target!r}; use score='logit'")
        return ClassProbability(target.labels)
    raise OptionError(f"unknown score {score!r}; choose from {SCORES}")


@torch.no_grad()
def perturbation_curves(
    *,
    model: nn.Module,
    images: Tensor,
    maps: Tensor,
    target: Target,
    mode: str,
    unit: int = 8,
    steps: int = 16,
    fill: str = "zero",
    score: str = "logit",
    blur_sigma: float = 5.0,
    max_forward_batch: int = 256,
    keys: Tensor | None = None,
    engine: str = "auto",
    forward_batch: int | str = "max",
    covered: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Deletion (MoRF) or insertion curves for a batch (module docstring for the convention).

    Long: one batched algorithm whose steps share the block order and the fill tensors.

    Args:
        model: takes (n, C, H, W) images.
        images: (B, C, H, W).
        maps: (B, 1, H, W) attribution maps at input resolution.
        target: B-sample target giving the score.
        mode: "deletion" or "insertion".
        keys: (B, U) tie-break keys (:func:`tie_keys`); None = row-major.
        engine: "auto", "full" or "incremental" (exact BagNet locality);
            see :mod:`attrbench.metrics.curve_engine`.
        forward_batch: images per full forward: "max", "auto" (probed) or an int, capped by
            ``max_forward_batch``; see :mod:`attrbench.metrics.curve_engine`.
        covered: (1, 1, H, W) bool pixels some output sees; unseen units go last (module docstring).

    Returns:
        fractions (K,) and scores (B, K) (K = number of curve points, unperturbed point included).
    """
    if mode not in ("deletion", "insertion"):
        raise OptionError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    if maps.ndim != 4 or maps.shape[1] != 1 or maps.shape[0] != images.shape[0] or maps.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"maps must be (B, 1, H, W) matching images {tuple(images.shape)}, got {tuple(maps.shape)}")
    if unit < 1 or steps < 1:
        raise OptionError(f"unit and steps must be positive, got unit={unit}, steps={steps}")
    scorer = score_target(target, score)
    b, _, h, w = images.shape
    ranks, (hu, wu) = unit_ranks(maps, unit=unit, keys=keys, covered=covered)
    counts_list = step_counts(hu * wu, steps)
    counts = torch.tensor(counts_list, device=images.device)
    k = len(counts_list)
    fill_x = fill_images(images, fill=fill, blur_sigma=blur_sigma)
    # --- engine hook (attrbench.metrics.curve_engine): exact incremental curves on BagNets ---
    fast = incremental_outputs(
        engine=engine, model=model, images=images, fill_x=fill_x, ranks=ranks, unit=unit, counts=counts_list,
        mode=mode, max_forward_batch=max_forward_batch, forward_batch=forward_batch,
    )
    if fast is not None:
        return counts.to(torch.float64) / (hu * wu), score_outputs(fast, scorer)
    # --- end of hook ---
    # job j = (sample j // K, point j % K), sample-major so chunks stay contiguous per sample
    total = b * k
    out = torch.empty(total, dtype=torch.float64, device=images.device)
    chunk, threads = forward_plan(model=model, images=images, total=total, max_forward_batch=max_forward_batch,
                                  forward_batch=forward_batch)  # fmt: skip
    with cpu_threads(threads):
        _full_forwards(model=model, images=images, fill_x=fill_x, ranks=ranks, counts=counts, out=out, chunk=chunk,
                       unit=unit, mode=mode, fill=fill, scorer=scorer)  # fmt: skip
    fractions = counts.to(torch.float64) / (hu * wu)
    return fractions, out.view(b, k)


def _full_forwards(*, model: nn.Module, images: Tensor, fill_x: Tensor, ranks: Tensor, counts: Tensor, out: Tensor,
                   chunk: int, unit: int, mode: str, fill: str, scorer: Target) -> None:  # fmt: skip
    """Write the scores of every (sample, point) job into ``out`` (B * K,), ``chunk`` images per forward.

    Job j = (sample j // K, point j % K), sample-major so that chunks stay contiguous per sample.
    Everything that does not depend on the chunk (pixel ranks, job indices, the target's
    per-sample tensors) is built once, so a chunk costs a few tensor ops besides its forward.
    """
    b, _, h, w = images.shape
    k = counts.shape[0]
    hu, wu = -(-h // unit), -(-w // unit)
    total = b * k
    rank_pix = ranks.view(b, hu, 1, wu, 1).expand(b, hu, unit, wu, unit).reshape(b, hu * unit, wu * unit)[:, :h, :w]
    jobs = torch.arange(total, device=images.device)
    s_all, p_all = jobs // k, jobs % k
    per_sample = [t[s_all] for t in scorer.per_sample]
    for start in range(0, total, chunk):
        sl = slice(start, min(start + chunk, total))
        s_idx = s_all[sl]
        removed = rank_pix[s_idx] < counts[p_all[sl]].view(-1, 1, 1)  # (n, H, W): pixel's unit among the top `count`
        pix = (~removed if mode == "insertion" else removed).unsqueeze(1)
        x = images[s_idx]  # a fresh copy: fill it in place (one pass over the chunk)
        if fill == "zero":
            x.masked_fill_(pix, 0.0)
        else:
            x = torch.where(pix, fill_x[s_idx], x)
        out[sl] = scorer(model(x), *(t[sl] for t in per_sample)).to(torch.float64)
