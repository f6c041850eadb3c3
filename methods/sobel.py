"""Sobel edge magnitude: a model-independent reference row (Adebayo et al., NeurIPS 2018,
arXiv 1810.03292, "Sanity Checks for Saliency Maps", edge detector comparison).

    A(x)_c = sqrt((K_x * x_c)^2 + (K_y * x_c)^2),   K_x = [[1,0,-1],[2,0,-2],[1,0,-1]], K_y = K_x^T,

per colour channel with replicate padding; (B, 3, H, W), non-negative. A method whose maps
resemble this one is likely showing image structure rather than the model's reasoning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target

__all__ = ["Sobel", "sobel_magnitude"]


def sobel_magnitude(images: Tensor) -> Tensor:
    """Per-channel Sobel gradient magnitude: (B, C, H, W) -> (B, C, H, W)."""
    kx = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], dtype=images.dtype, device=images.device)
    c = images.shape[1]
    weight = torch.stack([kx, kx.T]).unsqueeze(1).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3)
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    g = F.conv2d(padded, weight, groups=c).view(images.shape[0], c, 2, *images.shape[-2:])
    return g.pow(2).sum(dim=2).sqrt()


class Sobel(AttributionMethod):
    """Edge magnitude of the image; ignores the model and the target."""

    info = MethodInfo(
        name="sobel",
        paper="Adebayo et al., NeurIPS 2018, arXiv 1810.03292 (edge-detector reference)",
        resolution=Resolution.INPUT,
        reference=True,
    )

    def __init__(self, model: nn.Module, *, spec: ModelSpec) -> None:
        super().__init__(model, spec=spec)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W)."""
        return sobel_magnitude(inputs.detach())
