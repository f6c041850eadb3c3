"""EmbeddingCAM with the normalised mean proxy (Bachhawat, "Generalizing GradCAM for Embedding
Networks", arXiv 2402.00909).

No triplets: the explained scalar is L_c = <f(x), p_c>, the dot product of the embedding with the
proxy of the image's class, p_c = normalize(mean embedding of class c over a reference set)
(:class:`~attrbench.embedding.targets.ClassProxy`). The map is Grad-CAM of L_c at the CAM layer:
w_k = (1 / hw) sum_ij dL_c/dA_kij, map = sum_k w_k A_k. For a classifier with one-hot proxies
L_c is the class logit and the method is Grad-CAM (the paper's reduction; a test checks it).

On the embedding track the proxy is carried by the track's similarity target
(``CosineSimilarity.proxy``; proxies over the evaluated pool of unseen-class images); a
:class:`ClassProxy` target can also be given directly.
"""

from __future__ import annotations

from torch import Tensor

from attrbench.api import MethodInfo, Resolution, Target
from attrbench.embedding.cam_methods import EmbeddingCAM
from attrbench.embedding.targets import ClassProxy, carried_target
from attrbench.methods.cam import activations_and_gradients

__all__ = ["ProxyGradCAM"]


class ProxyGradCAM(EmbeddingCAM):
    """Grad-CAM of <f(x), p_c> for the class proxy p_c (module docstring).

    Args:
        model: embedding :class:`~attrbench.models.common.ImageModel` ((B, 3, H, W) -> (B, D)).
        spec: its spec (``cam_layer`` names the last conv features).
        layer: CAM layer overriding ``spec.cam_layer``.

    Returns (attribute): (B, 1, h, w) raw maps sum_k w_k A_k at the CAM layer's resolution.
    """

    info = MethodInfo(name="embeddingcam", paper="Bachhawat, arXiv 2402.00909 (EmbeddingCAM, mean proxy)",
                      resolution=Resolution.LAYER, needs_layer=True, track="embedding")
    rule = "gradcam"  # the per-image weights of :class:`EmbeddingCAM` (Grad-CAM's)

    def channel_weights(self, inputs: Tensor, *, target: Target) -> tuple[Tensor, Tensor]:
        """A (B, K, h, w) and Grad-CAM weights (B, K) of the class-proxy target."""
        proxy = carried_target(target, kind=ClassProxy, method=self.info.name,
                               explains="the similarity to a class proxy")
        act, grad = activations_and_gradients(self.model, self._module, inputs, proxy)
        return act, self.weights(act, grad)
