"""SmoothGrad (Smilkov et al., 2017, arXiv 1706.03825): mean gradient over noisy copies.

    A(x) = (1/n) sum_k d f(x + eps_k) / d x,   eps_k ~ N(0, stdevs^2 I),   (B, 3, H, W).

See :mod:`attrbench.methods.noise_tunnel` for noise, seeding and hyperparameters.
"""

from __future__ import annotations

from attrbench.api import MethodInfo, Resolution
from attrbench.methods.noise_tunnel import NoiseTunnelSaliency

__all__ = ["SmoothGrad"]


class SmoothGrad(NoiseTunnelSaliency):
    """Captum NoiseTunnel(Saliency), nt_type "smoothgrad", signed gradients."""

    info = MethodInfo(
        name="smoothgrad",
        paper="Smilkov et al., 2017, arXiv 1706.03825",
        resolution=Resolution.INPUT,
        stochastic=True,
        postprocess="magnitude",  # max_c |a_c|: the saliency map of Simonyan et al., sec. 3.1
    )
    nt_type = "smoothgrad"
