"""Metric-learning Grad-CAM (Chen, Chen, Hajimirsadeghi, Mori, WACV 2020, arXiv 2001.06538).

``mlgradcam``: Grad-CAM weights w_k = mean_ij d(-L)/dA_kij of the triplet loss L with the explained
image as anchor, averaged over N reference triplets, top-k channels (defaults N = k = 50).
``mlgradcam-transfer``: the same weights precomputed on training images, clustered (k-means,
K = 50) and transferred to a test image by its nearest centroid; one forward, no backward.
Bases in :mod:`attrbench.embedding.cam_methods`.
"""

from __future__ import annotations

from attrbench.api import MethodInfo, Resolution
from attrbench.embedding.cam_methods import TransferCAM, TripletCAM

__all__ = ["MLGradCAM", "MLGradCAMTransfer"]

_PAPER = "Chen et al., WACV 2020, arXiv 2001.06538"


class MLGradCAM(TripletCAM):
    """Grad-CAM of the triplet loss, averaged over N triplets, top-k channels."""

    info = MethodInfo(name="mlgradcam", paper=_PAPER, resolution=Resolution.LAYER, needs_layer=True, track="embedding")
    rule = "gradcam"


class MLGradCAMTransfer(TransferCAM):
    """ML Grad-CAM weights transferred from the nearest of K = 50 training clusters."""

    info = MethodInfo(name="mlgradcam-transfer", paper=_PAPER, resolution=Resolution.LAYER, needs_layer=True,
                      track="embedding", needs_weight_database=True)
    rule = "gradcam"
