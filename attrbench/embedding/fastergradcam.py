"""Faster-Grad-CAM (shinmura0/Faster-Grad-CAM, after Chen et al., WACV 2020, arXiv 2001.06538).

Weight transfer with the changes of that project: per-image Grad-CAM weights (no averaging over
triplets) of a class score (ArcFace probability there; here the cosine similarity of the image to
the mean embedding of the other training images of its class), k-means with K = 10 clusters,
top-50 channels by signed cluster-mean weight. Inference: one forward, nearest centroid,
sum_{k in top} w_k A_k; no backward.
"""

from __future__ import annotations

from attrbench.api import MethodInfo, Resolution
from attrbench.embedding.cam_methods import TransferCAM

__all__ = ["FasterGradCAM"]


class FasterGradCAM(TransferCAM):
    """Grad-CAM weights of the class-mean similarity, transferred from K = 10 training clusters."""

    info = MethodInfo(
        name="fastergradcam",
        paper="shinmura0/Faster-Grad-CAM (GitHub), after Chen et al., WACV 2020, arXiv 2001.06538",
        resolution=Resolution.LAYER,
        needs_layer=True,
        track="embedding",
        needs_weight_database=True,
    )
    rule = "gradcam"
    database_target = "similarity"
    num_clusters = 10
    database_n_triplets = 1
