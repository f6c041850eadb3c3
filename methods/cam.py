"""One base for every class activation map: map = sum_k w_k A^k at a layer, raw (no ReLU).

The family (classification and embedding variants alike) shares this pipeline:

1. :meth:`CamMethod.channel_weights` returns the layer output A (B, K, h, w) and channel
   weights w (B, K). The default runs one forward pass with a hook that is always removed
   (:func:`attrbench.hooks.capture_output`), takes g = d score / d A with
   ``torch.autograd.grad`` and hands (A, g) to :meth:`CamMethod.weights`.
2. :func:`cam_from_weights` forms the weighted channel sum at layer resolution, (B, 1, h, w).

A subclass overrides one hook: :meth:`CamMethod.weights` (the channel-weight function: Grad-CAM,
Grad-CAM++), or :meth:`CamMethod.channel_weights` when the weights come from elsewhere (several
triplet gradients, a database of training weights; see :mod:`attrbench.embedding.cam_methods`).
This is the layout of pytorch-grad-cam's ``base_cam.py`` family; see docs/methods.md.

The layer is ``layer`` or the model spec's ``cam_layer`` (a dotted path relative to the model,
resolved with ``model.get_submodule``); it is never guessed.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor, nn

from attrbench.api import AttributionMethod, ModelSpec, Target
from attrbench.hooks import capture_output
from attrbench.methods.common import resolve_layer

__all__ = ["CamMethod", "activations_and_gradients", "cam_from_weights"]


def activations_and_gradients(
    model: nn.Module, module: nn.Module, inputs: Tensor, target: Target
) -> tuple[Tensor, Tensor]:
    """A and g = d target / d A at ``module`` for a batch.

    Samples do not interact in an eval-mode network, so the gradient of the summed scores gives
    every sample its own gradient.

    Returns:
        (A, g), both (B, K, h, w), detached.
    """
    with torch.enable_grad():
        # a leaf that requires grad guarantees a graph even if the parameters are frozen
        x = inputs.detach().requires_grad_(True)
        with capture_output(module) as outputs:
            scores = target.score(model(x))
        if len(outputs) != 1:
            raise ValueError(
                f"the CAM layer ran {len(outputs)} times in one forward pass; choose a module that is called once"
            )
        (act,) = outputs
        (grad,) = torch.autograd.grad(scores.sum(), act)
    return act.detach(), grad.detach()


def cam_from_weights(activations: Tensor, weights: Tensor) -> Tensor:
    """Raw CAM sum_k w_k A^k: (B, K, h, w), (B, K) -> (B, 1, h, w)."""
    w = weights.to(activations.dtype)[:, :, None, None]
    return (w * activations).sum(dim=1, keepdim=True)


class CamMethod(AttributionMethod):
    """Base of the CAM family; subclasses set ``info`` and override one hook.

    Args:
        model: the model to explain.
        spec: its spec (``cam_layer`` is the default layer).
        layer: dotted module path; default ``spec.cam_layer``.
    """

    def __init__(self, model: nn.Module, *, spec: ModelSpec, layer: str | None = None) -> None:
        super().__init__(model, spec=spec)
        self.layer, self._module = resolve_layer(model, layer, default=spec.cam_layer, method=self.info.name)

    @abstractmethod
    def weights(self, act: Tensor, grad: Tensor) -> Tensor:
        """The channel-weight function: A and g, both (B, K, h, w) -> w (B, K)."""

    def channel_weights(self, inputs: Tensor, *, target: Target) -> tuple[Tensor, Tensor]:
        """(B, 3, H, W) -> A (B, K, h, w) and w (B, K): one forward and backward, then :meth:`weights`."""
        act, grad = activations_and_gradients(self.model, self._module, inputs, target)
        if act.ndim != 4:
            raise ValueError(f"CAM layer {self.layer!r} output has shape {tuple(act.shape)}, expected (B, K, h, w)")
        return act, self.weights(act, grad)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 1, h, w) raw map sum_k w_k A^k (no ReLU)."""
        act, weights = self.channel_weights(inputs, target=target)
        return cam_from_weights(act, weights)
