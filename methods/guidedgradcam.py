"""Guided Grad-CAM (Selvaraju et al., ICCV 2017, arXiv 1610.02391) via Captum ``GuidedGradCam``.

    A(x) = GuidedBackprop(x) * Upsample(ReLU(GradCAM(x))),   (B, 3, H, W).

The ReLU on the Grad-CAM factor is part of the method's definition (Captum applies it), not
post-processing. Upsampling is bilinear as in the paper (Captum's default is nearest).
"""

from __future__ import annotations

from captum.attr import GuidedGradCam as _CaptumGuidedGradCam
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.methods.common import TargetModule, captum_args, check_choice, grad_leaf, quiet_captum, resolve_layer

__all__ = ["GuidedGradCam"]


class GuidedGradCam(AttributionMethod):
    """Guided backprop gated by the upsampled, rectified Grad-CAM map.

    Args:
        layer: dotted module path; default ``spec.cam_layer``.
        interpolate_mode: "bilinear" (paper) or "nearest" (Captum default).
    """

    info = MethodInfo(
        name="guidedgradcam",
        paper="Selvaraju et al., ICCV 2017, arXiv 1610.02391",
        resolution=Resolution.INPUT,
        needs_layer=True,
    )

    def __init__(
        self,
        model: nn.Module,
        *,
        spec: ModelSpec,
        layer: str | None = None,
        interpolate_mode: str = "bilinear",
    ) -> None:
        super().__init__(model, spec=spec)
        self.layer, self._module = resolve_layer(model, layer, default=spec.cam_layer, method=self.info.name)
        self.interpolate_mode = check_choice("interpolate_mode", interpolate_mode, ("bilinear", "nearest"))

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W)."""
        method = _CaptumGuidedGradCam(TargetModule(self.model, target), self._module)
        with quiet_captum():
            return method.attribute(
                inputs=grad_leaf(inputs),
                additional_forward_args=captum_args(target),
                interpolate_mode=self.interpolate_mode,
            ).detach()
