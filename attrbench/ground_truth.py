"""BagNet ground truth and the one rule that brings pixel maps to the patch grid.

A BagNet's image logit is the mean of per-position logits (Brendel & Bethge, ICLR 2019):
f_c(x) = (1/N) sum_p l_{p,c}(x), where position p = (i, j) sees only the q x q pixel box
[8i, 8i+q-1] x [8j, 8j+q-1]. Hence the exact contribution of patch p, relative to a baseline b, is

    g_p = (l_{p,c}(x) - l_{p,c}(b)) / N,     sum_p g_p = f_c(x) - f_c(b)   (exactly).

Methods without a baseline (Saliency, Grad-CAM, ...) are compared with g_p = (l_{p,c}(x) - b_c) / N,
the patch evidence net of the fc bias, which sums to f_c(x) - b_c.

Pixel -> patch aggregation (patches overlap by q - 8 pixels, so a rule must be declared):
    "rf_sum" (default): G_p = sum of the pixel map over RF(p); pixels in overlaps count for every
        patch that sees them; pixels no patch sees (the bottom/right border) count for none.
    "share": each pixel's value is first divided by the number of patches that see it, so the
        total attribution over covered pixels is preserved.
    "lstsq": the patch map whose placement (:func:`patches_to_pixels`) is closest to the pixel map
        in least squares, G = q^2 P_h^+ M (P_w^+)^T with P the 0/1 pixel-in-receptive-field matrix of
        each axis (P has full column rank, so the pseudo-inverse is exact on placed maps): the one
        rule under which a map declared on the patch grid and the same map spread over its pixels
        get the same patch values, so the pixel family's ceiling is 1.
A map that already has the grid's shape (H', W') is used as it is.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from attrbench.models.bagnet import ReceptiveField
from attrbench.models.common import ImageModel

__all__ = ["AGGREGATIONS", "patch_truth", "patches_to_pixels", "pixels_to_patches", "receptive_field_of"]

Aggregation = Literal["rf_sum", "share", "lstsq"]
AGGREGATIONS: tuple[str, ...] = ("rf_sum", "share", "lstsq")


def receptive_field_of(model: ImageModel) -> ReceptiveField:
    """The patch geometry declared in the model's spec."""
    q = model.spec.receptive_field
    if q is None:
        raise TypeError(f"model {model.spec.name!r} has no patch ground truth (spec.receptive_field is None)")
    return ReceptiveField(size=q, stride=model.spec.rf_stride)


@torch.no_grad()
def patch_truth(
    model: ImageModel,
    inputs: Tensor,
    *,
    labels: Tensor,
    baseline: Tensor | float | None = None,
) -> Tensor:
    """Exact per-patch contributions g_p for class ``labels``.

    Args:
        model: a BagNet :class:`ImageModel` (has ``patch_logits``).
        inputs: (B, 3, H, W) images in [0, 1].
        labels: (B,) target classes.
        baseline: None (compare with the fc bias), a float fill value, or a (B|1, 3, H, W) tensor.

    Returns:
        (B, H', W') with g.sum((1, 2)) == f_c(x) - f_c(b) (or f_c(x) - b_c without baseline).
    """
    logits = model.patch_logits(inputs)  # (B, H', W', C)
    n = logits.shape[1] * logits.shape[2]
    idx = labels.long().view(-1, 1, 1, 1).expand(-1, logits.shape[1], logits.shape[2], 1)
    lx = logits.gather(3, idx).squeeze(3)
    if baseline is None:
        bias = model.net.fc.bias[labels.long()].to(lx.dtype)  # type: ignore[index,union-attr]
        return (lx - bias.view(-1, 1, 1)) / n
    if not torch.is_tensor(baseline):
        baseline = torch.full_like(inputs, float(baseline))
    base_logits = model.patch_logits(baseline.expand_as(inputs))
    lb = base_logits.gather(3, idx).squeeze(3)
    return (lx - lb) / n


def pixels_to_patches(attr: Tensor, *, rf: ReceptiveField, rule: Aggregation = "rf_sum") -> Tensor:
    """Bring a pixel map to the patch grid by the declared rule (module docstring).

    Args:
        attr: (B, 1, H, W) or (B, H, W) pixel map at input resolution, or already (B, [1,] H', W').
        rf: the model's receptive field.
        rule: "rf_sum", "share" or "lstsq".

    Returns:
        (B, H', W').
    """
    if attr.ndim == 3:
        attr = attr.unsqueeze(1)
    if attr.ndim != 4 or attr.shape[1] != 1:
        raise ValueError(f"expected a (B, 1, H, W) map, got shape {tuple(attr.shape)}; reduce channels first")
    h, w = attr.shape[-2:]
    if h < rf.size or w < rf.size:  # already on the grid (or a coarser map): use as it is
        return attr[:, 0]
    if rule == "lstsq":
        ph, pw = (_membership(n, g, rf).to(torch.float64) for n, g in zip((h, w), rf.grid(h, w)))
        inv_h, inv_w = (torch.linalg.pinv(p).to(attr) for p in (ph, pw))
        return (inv_h @ attr[:, 0] @ inv_w.T) * (rf.size * rf.size)
    if rule == "share":
        cov = rf.coverage(h, w).to(attr)
        attr = torch.where(cov > 0, attr / cov.clamp_min(1), torch.zeros_like(attr))
    elif rule != "rf_sum":
        raise ValueError(f"unknown aggregation rule {rule!r}; choose from {AGGREGATIONS}")
    return F.avg_pool2d(attr, kernel_size=rf.size, stride=rf.stride)[:, 0] * (rf.size * rf.size)


def _membership(n: int, positions: int, rf: ReceptiveField) -> Tensor:
    """(n, positions) 0/1: pixel row r lies in the receptive field of position i."""
    rows = torch.arange(n).view(-1, 1)
    start = rf.stride * torch.arange(positions).view(1, -1)
    return ((rows >= start) & (rows < start + rf.size)).to(torch.float64)


def patches_to_pixels(grid: Tensor, *, rf: ReceptiveField, size: tuple[int, int]) -> Tensor:
    """Spread patch values evenly over their receptive fields (adjoint of ``rf_sum`` / q^2).

    Args:
        grid: (B, H', W') patch values.
        size: (H, W) of the input.

    Returns:
        (B, 1, H, W); its total equals the grid's total; uncovered border pixels are 0.
    """
    weight = torch.ones(1, 1, rf.size, rf.size, dtype=grid.dtype, device=grid.device) / (rf.size * rf.size)
    out = F.conv_transpose2d(grid.unsqueeze(1), weight, stride=rf.stride)
    h, w = size
    pad_h, pad_w = h - out.shape[-2], w - out.shape[-1]
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f"grid {tuple(grid.shape[-2:])} does not fit an input of {size} with q={rf.size}")
    return F.pad(out, (0, pad_w, 0, pad_h))
