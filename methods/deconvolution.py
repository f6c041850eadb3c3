"""Deconvnet projection (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901) via Captum ``Deconvolution``.

The signal from the target score goes back through max-unpooling at the forward switches, a
ReLU applied to the *backward* signal (the forward sign is ignored: R_in = ReLU(R_out)) and the
transposed filters without bias. Captum realises exactly this by replacing each ``nn.ReLU``'s
backward with ReLU(grad_output); max-pool and convolution backward already are switch
unpooling and transposed convolution. Starting from the target score (not from one chosen
activation) gives the whole-map projection; (B, 3, H, W).
"""

from __future__ import annotations

from captum.attr import Deconvolution as _CaptumDeconvolution
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.methods.common import TargetModule, captum_args, grad_leaf, quiet_captum

__all__ = ["Deconvolution"]


class Deconvolution(AttributionMethod):
    """Zeiler-Fergus deconvnet projection of the target score to the input pixels."""

    info = MethodInfo(
        name="deconvolution",
        paper="Zeiler & Fergus, ECCV 2014, arXiv 1311.2901",
        resolution=Resolution.INPUT,
    )

    def __init__(self, model: nn.Module, *, spec: ModelSpec) -> None:
        super().__init__(model, spec=spec)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W)."""
        method = _CaptumDeconvolution(TargetModule(self.model, target))
        with quiet_captum():
            return method.attribute(inputs=grad_leaf(inputs), additional_forward_args=captum_args(target)).detach()
