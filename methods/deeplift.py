"""DeepLIFT, Rescale rule (Shrikumar, Greenside, Kundaje, ICML 2017, arXiv 1704.02685).

    A_i(x) = (x_i - b_i) * m_i,   sum_i A_i = f(x) - f(b)  (summation-to-delta, exact),

where the multipliers m back-propagate Delta(out)/Delta(in) through each ReLU (Captum
``DeepLift``, which hooks ``nn.ReLU`` modules; the BagNet uses a distinct ReLU module per call).
"""

from __future__ import annotations

from captum.attr import DeepLift as _CaptumDeepLift
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.methods.common import TargetModule, captum_args, check_float, grad_leaf, quiet_captum

__all__ = ["DeepLift"]


class DeepLift(AttributionMethod):
    """DeepLIFT (Rescale) against a constant baseline image.

    Args:
        baseline: pixel-space fill value of b (0.0 = black).
    """

    info = MethodInfo(
        name="deeplift",
        paper="Shrikumar et al., ICML 2017, arXiv 1704.02685",
        resolution=Resolution.INPUT,
        needs_baseline=True,
    )

    def __init__(self, model: nn.Module, *, spec: ModelSpec, baseline: float = 0.0) -> None:
        super().__init__(model, spec=spec)
        self.baseline = check_float("baseline", baseline)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W)."""
        method = _CaptumDeepLift(TargetModule(self.model, target))
        with quiet_captum():
            attr = method.attribute(
                inputs=grad_leaf(inputs), baselines=self.baseline, additional_forward_args=captum_args(target)
            )
        return attr.detach()
