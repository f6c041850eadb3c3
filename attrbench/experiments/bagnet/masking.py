"""Masking b x b blocks in the order of a heatmap: the machinery of the spatial-sensitivity experiment.

Blocks: the image is cut into b x b blocks from the top-left corner; only full blocks count (a
border narrower than b, e.g. the last pixel row of a 97 px image at b = 8, is never masked).
Block k (row-major) of a pixel map scores the sum of the map over its pixels (:func:`block_scores`).

Order: blocks by decreasing score; ties (equal scores) are broken by a seeded random permutation
(:func:`order_from_scores`), so a constant map gives a random order, never the reading order.

Curve: for k in ``steps``, the first k blocks of the order are replaced by the fill value
(per channel, pixel space) and the model's softmax probability of the explained class is read:
p_k = softmax(f(x_k))_c. The drop is d_k = p_0 - p_k; its area is the trapezoid rule over k,
divided by the largest k: AUC = (1 / K) int_0^K d(k) dk (:func:`drop_auc`). A faster drop gives a
larger AUC.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["block_grid", "block_scores", "drop_auc", "masked_probabilities", "order_from_scores"]


def block_grid(*, height: int, width: int, block: int) -> tuple[int, int]:
    """Full blocks per column and per row."""
    return height // block, width // block


def block_scores(pixel_map: Tensor, *, block: int) -> Tensor:
    """(B, 1, H, W) or (B, H, W) map -> (B, nh * nw) sums over the full ``block`` x ``block`` blocks."""
    m = pixel_map if pixel_map.ndim == 3 else pixel_map[:, 0]
    nh, nw = block_grid(height=m.shape[-2], width=m.shape[-1], block=block)
    body = m[:, : nh * block, : nw * block].reshape(m.shape[0], nh, block, nw, block)
    return body.sum(dim=(2, 4)).reshape(m.shape[0], nh * nw)


def order_from_scores(scores: Tensor, *, generator: torch.Generator) -> Tensor:
    """(B, K) block scores -> (B, K) block indices by decreasing score, ties in a seeded random order."""
    b, k = scores.shape
    out = torch.empty(b, k, dtype=torch.long)
    s = scores.detach().double().cpu()
    for i in range(b):
        perm = torch.randperm(k, generator=generator)
        ranked = torch.argsort(-s[i, perm], stable=True)
        out[i] = perm[ranked]
    return out


def _block_masks(order: Tensor, k: int, *, grid: tuple[int, int], block: int, size: tuple[int, int]) -> Tensor:
    """(B, 1, H, W) float: 1 on the first ``k`` blocks of each row of ``order``."""
    b = order.shape[0]
    flat = torch.zeros(b, grid[0] * grid[1])
    if k > 0:
        flat.scatter_(1, order[:, :k], 1.0)
    m = flat.view(b, 1, grid[0], 1, grid[1], 1).expand(b, 1, grid[0], block, grid[1], block)
    m = m.reshape(b, 1, grid[0] * block, grid[1] * block)
    return torch.nn.functional.pad(m, (0, size[1] - m.shape[-1], 0, size[0] - m.shape[-2]))


@torch.no_grad()
def masked_probabilities(model: nn.Module, images: Tensor, classes: Tensor, order: Tensor, *, steps: list[int],
                         block: int, fill: Tensor, batch_size: int = 50) -> Tensor:  # fmt: skip
    """(B, len(steps)) probability of ``classes`` after masking the first k blocks of ``order``, k in ``steps``.

    Args:
        model: (B, 3, H, W) -> (B, C) logits.
        images: (B, 3, H, W) in [0, 1].
        classes: (B,) the class whose probability is read.
        order: (B, K) block indices, most important first.
        steps: numbers of masked blocks (k = 0 is the unmasked image).
        block: block side b.
        fill: (3,) pixel value per channel put into masked blocks.
        batch_size: images per forward.
    """
    size = (int(images.shape[-2]), int(images.shape[-1]))
    grid = block_grid(height=size[0], width=size[1], block=block)
    fill = fill.to(images.device, images.dtype).view(1, -1, 1, 1)
    out = torch.empty(images.shape[0], len(steps), dtype=torch.float64)
    for s, k in enumerate(steps):
        for i in range(0, images.shape[0], batch_size):
            x = images[i : i + batch_size]
            m = _block_masks(order[i : i + batch_size], k, grid=grid, block=block, size=size).to(x.device, x.dtype)
            probs = model(x * (1 - m) + fill * m).softmax(1)
            out[i : i + batch_size, s] = probs.gather(1, classes[i : i + batch_size, None].to(x.device))[:, 0].double().cpu()
    return out


def drop_auc(probabilities: Tensor, *, steps: list[int]) -> np.ndarray:
    """(B,) area under the drop curve d_k = p_0 - p_k over k (trapezoid rule), divided by max(steps).

    ``steps`` must start at 0 (the unmasked image) and increase.
    """
    ks = np.asarray(steps, dtype=np.float64)
    if ks[0] != 0 or np.any(np.diff(ks) <= 0):
        raise ValueError(f"steps must start at 0 and increase, got {steps}")
    p = probabilities.double().numpy()
    drop = p[:, :1] - p
    area = ((drop[:, 1:] + drop[:, :-1]) / 2 * np.diff(ks)[None, :]).sum(axis=1)
    return area / ks[-1]
