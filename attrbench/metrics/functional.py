"""Batched pure functions shared by the metrics (ranks, correlations, SSIM, AUROC).

Every function works on a whole batch: rows are samples, columns are the flattened map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "auroc",
    "average_ranks",
    "descending_ranks",
    "minmax",
    "pearson",
    "spearman",
    "ssim",
    "topk_count",
]


def average_ranks(x: Tensor) -> Tensor:
    """Ranks 1..N along dim 1, ties get the mean of their ranks (scipy's ``rankdata('average')``).

    Args:
        x: (B, N) finite values.

    Returns:
        (B, N) float ranks, same dtype as ``x`` if floating (else float64).
    """
    b, n = x.shape
    dtype = x.dtype if x.is_floating_point() else torch.float64
    sorted_x, order = torch.sort(x, dim=1, stable=True)
    new_group = torch.ones_like(sorted_x, dtype=torch.bool)
    new_group[:, 1:] = sorted_x[:, 1:] != sorted_x[:, :-1]
    # group ids unique across the batch so one scatter handles all rows
    group = torch.cumsum(new_group.long(), dim=1) - 1 + torch.arange(b, device=x.device).view(-1, 1) * n
    position = torch.arange(1, n + 1, device=x.device, dtype=dtype).expand(b, n)
    sums = torch.zeros(b * n, device=x.device, dtype=dtype).scatter_add_(0, group.flatten(), position.flatten())
    counts = torch.zeros(b * n, device=x.device, dtype=dtype).scatter_add_(
        0, group.flatten(), torch.ones(b * n, device=x.device, dtype=dtype)
    )
    mean_rank = (sums / counts.clamp_min(1))[group]
    return torch.empty_like(mean_rank).scatter_(1, order, mean_rank)


def descending_ranks(x: Tensor) -> Tensor:
    """0-based rank of each entry in a stable descending order (ties: lower index first).

    Args:
        x: (B, N).

    Returns:
        (B, N) int64; the largest entry has rank 0.
    """
    order = torch.argsort(x, dim=1, descending=True, stable=True)
    return torch.argsort(order, dim=1)


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation per row; NaN where a row is constant.

    Args:
        a, b: (B, N).

    Returns:
        (B,).
    """
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    denom = torch.sqrt((a * a).sum(dim=1) * (b * b).sum(dim=1))
    r = (a * b).sum(dim=1) / denom
    r = torch.where(denom > 0, r.clamp(-1.0, 1.0), torch.full_like(r, float("nan")))
    return r


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation per row (Pearson of average ranks; = scipy.stats.spearmanr).

    Args:
        a, b: (B, N) finite.

    Returns:
        (B,), NaN where a row is constant.
    """
    return pearson(average_ranks(a), average_ranks(b))


def auroc(scores: Tensor, labels: Tensor) -> Tensor:
    """Area under the ROC curve of ``scores`` as a detector of ``labels`` (Mann-Whitney U).

    AUROC = (sum of positive ranks - P(P+1)/2) / (P * Q) with average ranks for ties (a tie
    between a positive and a negative counts 1/2), P positives, Q negatives.

    Args:
        scores: (B, N).
        labels: (B, N) bool.

    Returns:
        (B,); NaN when a row has no positives or no negatives.
    """
    ranks = average_ranks(scores.to(torch.float64))
    pos = labels.to(torch.float64)
    p = pos.sum(dim=1)
    q = labels.shape[1] - p
    u = (ranks * pos).sum(dim=1) - p * (p + 1) / 2
    out = u / (p * q)
    return torch.where((p > 0) & (q > 0), out, torch.full_like(out, float("nan")))


def minmax(x: Tensor) -> Tensor:
    """Min-max normalise each sample to [0, 1]; a constant sample becomes all zeros.

    Args:
        x: (B, ...).
    """
    flat = x.flatten(1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > 0, (flat - lo) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(flat))
    return out.view_as(x)


def _gaussian_window(size: int, sigma: float, *, dtype: torch.dtype, device: torch.device) -> Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: Tensor, b: Tensor, *, window: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> Tensor:
    """Mean structural similarity per sample (Wang et al., IEEE TIP 2004).

    SSIM = ((2 mu_a mu_b + C1)(2 s_ab + C2)) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2)),
    C1 = (0.01 L)^2, C2 = (0.03 L)^2, local statistics under a Gaussian window (11, sigma 1.5),
    averaged over the valid positions (no padding, as the reference implementation). Maps
    smaller than the window use the largest odd window that fits.

    Args:
        a, b: (B, 1, H, W), typically min-max normalised (L = ``data_range`` = 1).

    Returns:
        (B,); identical inputs give exactly 1.
    """
    if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 1:
        raise ValueError(f"ssim expects two (B, 1, H, W) maps of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    h, w = a.shape[-2:]
    size = min(window, h, w)
    size = size if size % 2 == 1 else size - 1
    size = max(size, 1)
    g = _gaussian_window(size, sigma, dtype=a.dtype, device=a.device)
    kh, kw = g.view(1, 1, size, 1), g.view(1, 1, 1, size)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(t, kh), kw)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(dim=1)


def topk_count(n: int, percent: float) -> int:
    """Number of entries in the top ``percent`` % of ``n``: max(1, round(percent / 100 * n))."""
    return max(1, int(math.floor(percent / 100.0 * n + 0.5)))
