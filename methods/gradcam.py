"""Grad-CAM (Selvaraju et al., ICCV 2017, arXiv 1610.02391), raw (no ReLU).

    alpha_k = (1/Z) sum_ij d y / d A^k_ij,    map = sum_k alpha_k A^k,   (B, 1, h, w),

with y the target score (pre-softmax class logit for ``ClassLogit``). The paper's ReLU is
post-processing (``PostProcess(relu=True)``). Equals Captum ``LayerGradCam`` with
``relu_attributions=False`` (tested). At a BagNet's last layer, alpha_k = W_ck / N, so the map is
(l_p - b_c) / N: the patch ground truth without baseline.
"""

from __future__ import annotations

from torch import Tensor

from attrbench.api import MethodInfo, Resolution
from attrbench.methods.cam import CamMethod

__all__ = ["GradCam", "gradcam_weights"]


def gradcam_weights(act: Tensor, grad: Tensor) -> Tensor:
    """alpha_k = spatial mean of g: A, g (B, K, h, w) -> (B, K) (A is unused; same signature as Grad-CAM++)."""
    del act
    return grad.mean(dim=(2, 3))


class GradCam(CamMethod):
    """Gradient-weighted class activation map at ``layer`` (default ``spec.cam_layer``)."""

    info = MethodInfo(
        name="gradcam",
        paper="Selvaraju et al., ICCV 2017, arXiv 1610.02391",
        resolution=Resolution.LAYER,
        needs_layer=True,
    )

    def weights(self, act: Tensor, grad: Tensor) -> Tensor:
        return gradcam_weights(act, grad)
