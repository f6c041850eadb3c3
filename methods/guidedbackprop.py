"""Guided Backpropagation (Springenberg et al., ICLR-W 2015, arXiv 1412.6806).

Back-propagates the gradient, but every ReLU passes only positive gradient where its forward
input was positive: R_in = 1[x > 0] * ReLU(R_out). Captum ``GuidedBackprop`` hooks ``nn.ReLU``
modules (functional ReLUs would not be modified; the BagNet uses modules). (B, 3, H, W).
"""

from __future__ import annotations

from captum.attr import GuidedBackprop as _CaptumGuidedBackprop
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.methods.common import TargetModule, captum_args, grad_leaf, quiet_captum

__all__ = ["GuidedBackprop"]


class GuidedBackprop(AttributionMethod):
    """Guided back-propagation to the input pixels."""

    info = MethodInfo(
        name="guidedbackprop",
        paper="Springenberg et al., ICLR-W 2015, arXiv 1412.6806",
        resolution=Resolution.INPUT,
    )

    def __init__(self, model: nn.Module, *, spec: ModelSpec) -> None:
        super().__init__(model, spec=spec)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W)."""
        method = _CaptumGuidedBackprop(TargetModule(self.model, target))
        with quiet_captum():
            return method.attribute(inputs=grad_leaf(inputs), additional_forward_args=captum_args(target)).detach()
