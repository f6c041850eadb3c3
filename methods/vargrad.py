"""VarGrad (Adebayo et al., ICLR-W 2018, arXiv 1810.03307): variance of noisy gradients.

    A(x) = (1/n) sum_k (d f(x + eps_k) / d x)^2 - ((1/n) sum_k d f(x + eps_k) / d x)^2,
    eps_k ~ N(0, stdevs^2 I),   (B, 3, H, W), non-negative.

See :mod:`attrbench.methods.noise_tunnel` for noise, seeding and hyperparameters.
"""

from __future__ import annotations

from attrbench.api import MethodInfo, Resolution
from attrbench.methods.noise_tunnel import NoiseTunnelSaliency

__all__ = ["VarGrad"]


class VarGrad(NoiseTunnelSaliency):
    """Captum NoiseTunnel(Saliency), nt_type "vargrad"."""

    info = MethodInfo(
        name="vargrad",
        paper="Adebayo et al., ICLR-W 2018, arXiv 1810.03307",
        resolution=Resolution.INPUT,
        stochastic=True,
        postprocess="magnitude",  # max_c |a_c|: the saliency map of Simonyan et al., sec. 3.1
    )
    nt_type = "vargrad"
