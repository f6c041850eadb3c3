"""Saliency: the raw input gradient (Simonyan, Vedaldi, Zisserman, ICLR-W 2014, arXiv 1312.6034).

    A(x) = d f(x) / d x,   (B, 3, H, W), signed.

The paper visualises max_c |A|; taking the magnitude is post-processing (``reduce="max_abs"``),
so the method returns the signed gradient (Captum ``Saliency(abs=False)``).
"""

from __future__ import annotations

from captum.attr import Saliency as _CaptumSaliency
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.methods.common import captum_args, grad_leaf

__all__ = ["Saliency"]


class Saliency(AttributionMethod):
    """Raw gradient of the target with respect to the input pixels."""

    info = MethodInfo(
        name="saliency",
        paper="Simonyan et al., ICLR-W 2014, arXiv 1312.6034",
        resolution=Resolution.INPUT,
        postprocess="magnitude",  # max_c |a_c|: the saliency map of Simonyan et al., sec. 3.1
    )

    def __init__(self, model: nn.Module, *, spec: ModelSpec) -> None:
        super().__init__(model, spec=spec)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W) gradient."""
        method = _CaptumSaliency(target.forward_func(self.model))
        grad = method.attribute(inputs=grad_leaf(inputs), abs=False, additional_forward_args=captum_args(target))
        return grad.detach()
