"""Grad-CAM++ (Chattopadhyay et al., WACV 2018, arXiv 1710.11063), eq. 19, raw (no ReLU).

With Y = exp(S) and a network piecewise linear in A, the higher derivatives reduce to powers of
g = d S / d A^k_ij, and eq. 19 gives

    alpha_ij^k = g^2 / (2 g^2 + (sum_ab A^k_ab) g^3),     alpha = 0 where g = 0 (0/0),
    w_k = sum_ij alpha_ij^k ReLU(g_ij),                   map = sum_k w_k A^k,   (B, 1, h, w).

The common factor exp(S) is dropped (it scales all weights alike). A zero denominator with
g != 0 (2 + g sum A = 0) is replaced by 1, as the official code does. ``alpha_normalised=True``
adds the official TF code's per-channel normalisation alpha /= sum_ij alpha (not in eq. 19).
pytorch-grad-cam's ``GradCAMPlusPlus`` computes eq. 19 (with +1e-6 in the denominator);
torch-cam's ``GradCAMpp`` drops the division and is not a reference (docs/methods.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attrbench.api import MethodInfo, ModelSpec, Resolution
from attrbench.methods.cam import CamMethod
from attrbench.methods.common import check_bool

__all__ = ["GradCamPlusPlus", "gradcampp_weights"]


def gradcampp_weights(act: Tensor, grad: Tensor, *, alpha_normalised: bool = False) -> Tensor:
    """Eq. 19 weights w_k from A and g, both (B, K, h, w) -> (B, K)."""
    g2 = grad.pow(2)
    g3 = grad.pow(3)
    denom = 2 * g2 + act.sum(dim=(2, 3), keepdim=True) * g3
    denom = torch.where(denom != 0, denom, torch.ones_like(denom))
    alpha = torch.where(grad != 0, g2 / denom, torch.zeros_like(g2))
    if alpha_normalised:
        total = alpha.sum(dim=(2, 3), keepdim=True)
        alpha = alpha / torch.where(total != 0, total, torch.ones_like(total))
    return (alpha * grad.clamp_min(0)).sum(dim=(2, 3))


class GradCamPlusPlus(CamMethod):
    """Grad-CAM++ at ``layer`` (default ``spec.cam_layer``).

    Args:
        layer: dotted module path.
        alpha_normalised: apply the official code's per-channel alpha normalisation.
    """

    info = MethodInfo(
        name="gradcampp",
        paper="Chattopadhyay et al., WACV 2018, arXiv 1710.11063 (eq. 19)",
        resolution=Resolution.LAYER,
        needs_layer=True,
    )

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: ModelSpec,
        layer: str | None = None,
        alpha_normalised: bool = False,
    ) -> None:
        super().__init__(model, spec=spec, layer=layer)
        self.alpha_normalised = check_bool("alpha_normalised", alpha_normalised)

    def weights(self, act: Tensor, grad: Tensor) -> Tensor:
        return gradcampp_weights(act, grad, alpha_normalised=self.alpha_normalised)
