"""Input x Gradient (Shrikumar et al., 2016, arXiv 1605.01713).

    A(x) = x * d f(x) / d x,   (B, 3, H, W).

Pixel space: x is the [0, 1] image, i.e. an implicit black baseline b = 0 (for a linear model
this equals Integrated Gradients from b = 0). The method declares it like the baseline methods
(``needs_baseline`` and a ``baseline`` attribute, fixed at 0.0), so it is scored against the
baseline-matched truth g_p = (l_p(x) - l_p(0)) / N.
"""

from __future__ import annotations

from captum.attr import InputXGradient as _CaptumInputXGradient
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.methods.common import captum_args, grad_leaf

__all__ = ["InputXGradient"]


class InputXGradient(AttributionMethod):
    """Elementwise product of input and gradient."""

    info = MethodInfo(
        name="inputxgradient",
        paper="Shrikumar et al., 2016, arXiv 1605.01713",
        resolution=Resolution.INPUT,
        needs_baseline=True,
    )

    def __init__(self, model: nn.Module, *, spec: ModelSpec) -> None:
        super().__init__(model, spec=spec)
        self.baseline = 0.0  # implicit in x * grad: the black image; not an option

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W)."""
        method = _CaptumInputXGradient(target.forward_func(self.model))
        return method.attribute(inputs=grad_leaf(inputs), additional_forward_args=captum_args(target)).detach()
