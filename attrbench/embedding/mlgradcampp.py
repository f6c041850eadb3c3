"""Metric-learning Grad-CAM++ (Chen et al., WACV 2020, arXiv 2001.06538; weights: Chattopadhyay
et al., WACV 2018, arXiv 1710.11063, eq. 19).

``mlgradcampp``: w_k = sum_ij alpha_kij ReLU(g_kij), alpha = g^2 / (2 g^2 + (sum_ab A_kab) g^3), with
g = d(-L)/dA of the triplet loss, averaged over N triplets, top-k channels (N = k = 50).
``mlgradcampp-transfer``: the same weights transferred from k-means clusters of training images.
"""

from __future__ import annotations

from attrbench.api import MethodInfo, Resolution
from attrbench.embedding.cam_methods import TransferCAM, TripletCAM

__all__ = ["MLGradCAMpp", "MLGradCAMppTransfer"]

_PAPER = "Chen et al., WACV 2020, arXiv 2001.06538 (Grad-CAM++ eq. 19, arXiv 1710.11063)"


class MLGradCAMpp(TripletCAM):
    """Grad-CAM++ (eq. 19) of the triplet loss, averaged over N triplets, top-k channels."""

    info = MethodInfo(name="mlgradcampp", paper=_PAPER, resolution=Resolution.LAYER, needs_layer=True, track="embedding")
    rule = "gradcampp"


class MLGradCAMppTransfer(TransferCAM):
    """ML Grad-CAM++ weights transferred from the nearest of K = 50 training clusters."""

    info = MethodInfo(name="mlgradcampp-transfer", paper=_PAPER, resolution=Resolution.LAYER, needs_layer=True,
                      track="embedding", needs_weight_database=True)
    rule = "gradcampp"
