"""Batched deletion / insertion curves (Petsiuk et al., RISE, BMVC 2018, arXiv 1806.07421).

Convention (the one of torchcam's ``DeletionInsertionMetric``; METRICS.md sec. 2):

* units: the map (B, 1, H, W) is summed over non-overlapping ``unit`` x ``unit`` blocks anchored
  at pixel (0, 0) (so 8 x 8 blocks coincide with the BagNet stride grid); ``unit=1`` ranks pixels.
  A block cut by the image border is a smaller unit. The mask is shared by all channels.
* order: units sorted by decreasing map value, stable (ties: lower row-major index first).
* steps: ``s = ceil(U / steps)`` units per step; the curve has points at
  counts = 0, s, 2s, ..., (< U), U, i.e. it includes the unperturbed point (count 0) and the
  fully perturbed one; the x-axis is count / U in [0, 1].
* deletion: the top ``count`` units take the fill value; insertion: the top ``count`` units keep
  the image and all others take the fill value (so insertion starts at the fill image).
* fill: "zero" (0 in pixel space, i.e. black: the model normalises inside), "mean" (per-sample,
  per-channel mean colour) or "blur" (Gaussian blur of the image, sigma ``blur_sigma`` px).
* score: the target on the model output ("logit"), or the class probability ("probability").
* AUC: trapezoid rule of the scores over the fractions (torch.trapezoid), per sample.

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
from attrbench.metrics.curve_engine import forward_chunk, incremental_outputs, score_outputs

__all__ = ["FILLS", "SCORES", "fill_images", "perturbation_curves", "unit_ranks"]

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
    raise ValueError(f"unknown fill {fill!r}; choose from {FILLS}")


def unit_ranks(maps: Tensor, *, unit: int) -> tuple[Tensor, tuple[int, int]]:
    """Rank units by decreasing summed map value (stable).

    Args:
        maps: (B, 1, H, W).
        unit: block side in pixels.

    Returns:
        ranks (B, U) int64 (0 = most important) and the unit grid (Hu, Wu), U = Hu * Wu.
    """
    h, w = maps.shape[-2:]
    hu, wu = -(-h // unit), -(-w // unit)
    padded = F.pad(maps[:, 0], (0, wu * unit - w, 0, hu * unit - h))
    scores = padded.view(-1, hu, unit, wu, unit).sum(dim=(2, 4)).flatten(1)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    return torch.argsort(order, dim=1), (hu, wu)


def step_counts(units: int, steps: int) -> list[int]:
    """Unit counts at the curve points: 0, s, 2s, ..., U with s = ceil(U / steps)."""
    s = -(-units // steps)
    return [*range(0, units, s), units]


def _score_target(target: Target, score: str) -> Target:
    if score == "logit":
        return target
    if score == "probability":
        if not isinstance(target, ClassLogit):
            raise ValueError(f"score='probability' needs a class target, got {target!r}; use score='logit'")
        return ClassProbability(target.labels)
    raise ValueError(f"unknown score {score!r}; choose from {SCORES}")


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
    engine: str = "auto",
    forward_batch: int | str = "max",
) -> tuple[Tensor, Tensor]:
    """Deletion (MoRF) or insertion curves for a batch (module docstring for the convention).

    Args:
        model: takes (n, C, H, W) images.
        images: (B, C, H, W).
        maps: (B, 1, H, W) attribution maps at input resolution.
        target: B-sample target giving the score.
        mode: "deletion" or "insertion".
        engine: "auto", "full" or "incremental" (exact BagNet locality);
            see :mod:`attrbench.metrics.curve_engine`.
        forward_batch: images per full forward: "max", "auto" (probed) or an int, capped by
            ``max_forward_batch``; see :mod:`attrbench.metrics.curve_engine`.

    Returns:
        fractions (K,) and scores (B, K) (K = number of curve points, unperturbed point included).
    """
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    if maps.ndim != 4 or maps.shape[1] != 1 or maps.shape[0] != images.shape[0] or maps.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"maps must be (B, 1, H, W) matching images {tuple(images.shape)}, got {tuple(maps.shape)}")
    if unit < 1 or steps < 1:
        raise ValueError(f"unit and steps must be positive, got unit={unit}, steps={steps}")
    scorer = _score_target(target, score)
    b, _, h, w = images.shape
    ranks, (hu, wu) = unit_ranks(maps, unit=unit)
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
    chunk = forward_chunk(model=model, images=images, total=total, max_forward_batch=max_forward_batch, forward_batch=forward_batch)
    for start in range(0, total, chunk):
        idx = torch.arange(start, min(start + chunk, total), device=images.device)
        s_idx, p_idx = idx // k, idx % k
        removed = ranks[s_idx] < counts[p_idx].view(-1, 1)  # (n, U): unit is among the top `count`
        if mode == "insertion":
            removed = ~removed
        pix = removed.view(-1, 1, hu, 1, wu, 1).expand(-1, 1, hu, unit, wu, unit)
        pix = pix.reshape(-1, 1, hu * unit, wu * unit)[:, :, :h, :w]
        x = images[s_idx]  # a fresh copy: fill it in place (one pass over the chunk)
        if fill == "zero":
            x.masked_fill_(pix, 0.0)
        else:
            x = torch.where(pix, fill_x[s_idx], x)
        y = model(x)
        out[start : start + len(idx)] = scorer(y, *(t[s_idx] for t in scorer.per_sample)).to(torch.float64)
    fractions = counts.to(torch.float64) / (hu * wu)
    return fractions, out.view(b, k)
