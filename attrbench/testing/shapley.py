"""Brute-force Shapley values over pixel cells: the independent reference for the cell truth.

Evaluates the image logit on every coalition of cells (no window decomposition, no periodic
patterns) and applies the textbook formula phi_i = sum_{S not containing i} |S|! (n-|S|-1)! / n!
(v(S + i) - v(S)) (Shapley, 1953). Only for tests: 2^n forwards, n <= 16.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

__all__ = ["brute_force_cell_shapley"]


@torch.no_grad()
def brute_force_cell_shapley(
    model: nn.Module, image: Tensor, *, label: int, baseline: float = 0.0, cell: int = 8
) -> Tensor:
    """Shapley values of ``model(x)[label]`` over the c x c cells of one image.

    Args:
        model: maps (B, 3, H, W) to (B, C) logits.
        image: (3, H, W).

    Returns:
        (Hc, Wc) float64.
    """
    _, h, w = image.shape
    hc, wc = math.ceil(h / cell), math.ceil(w / cell)
    n = hc * wc
    if n > 16:
        raise ValueError(f"brute-force Shapley over {n} cells would need 2^{n} forwards")
    coalitions = list(itertools.product((False, True), repeat=n))
    value: dict[tuple[bool, ...], float] = {}
    for start in range(0, len(coalitions), 512):
        chunk = coalitions[start : start + 512]
        xs = []
        for members in chunk:
            x = torch.full_like(image, baseline)
            for k, present in enumerate(members):
                if present:
                    r, c = divmod(k, wc)
                    x[:, r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = image[:, r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]  # fmt: skip
            xs.append(x)
        out = model(torch.stack(xs))[:, label].double().tolist()
        value.update(zip(chunk, out))
    phi = torch.zeros(n, dtype=torch.float64)
    for members, v in value.items():
        size = sum(members)
        for i in range(n):
            if not members[i]:
                with_i = members[:i] + (True,) + members[i + 1 :]
                weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                phi[i] += weight * (value[with_i] - v)
    return phi.view(hc, wc)
