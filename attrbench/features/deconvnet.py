"""Zeiler-Fergus deconvnet projection of single activations (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901).

To see what one activation of a feature map responds to, the deconvnet keeps only that activation
(every other position and channel of the layer is set to zero) and maps it back to the input:

* max-pooling is inverted by **switch unpooling**: the signal goes to the position that was the
  maximum in the forward pass (PyTorch's max-pool backward does exactly this);
* a ReLU is inverted by a **ReLU on the backward signal**, R_in = max(R_out, 0), whatever the sign
  of the forward input (the difference from the gradient and from guided backpropagation);
* a convolution is inverted by its **transposed filters**, without bias (its backward). A strided
  convolution (ResNets, BagNets) is inverted by the transposed strided convolution
  (``conv_transpose2d`` with the same stride and padding), which scatters every unit's signal over
  its kernel window at the strided position; the same holds for 1x1 strided shortcuts;
* an eval-mode BatchNorm, y = a * x + b per channel, is inverted by its transpose, R_in = a * R_out
  (bias dropped like the convolution's); a residual sum sends the signal into both branches and a
  crop pads it back with zeros (plain backward of these linear operations);
* the normalisation inside :class:`~attrbench.models.common.ImageModel` is affine, so a projection
  onto its pixel input carries the factor 1 / std per colour channel.

As in the paper, the projection starts from the activation's value (not from 1). ReLUs must be
``nn.ReLU`` modules (functional ReLUs are not visible to hooks); the forward hooks that swap their
backward live in :func:`deconvnet_relus`, a context manager that removes them on exit.

Shapes: inputs (B, 3, H, W) -> projections (B, 3, H, W).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attrbench.errors import OptionError
from attrbench.features.geometry import one_output, find_layer
from attrbench.hooks import capture_output

__all__ = ["DeconvProjection", "deconvnet_relus", "project_activation"]


class _DeconvReLU(torch.autograd.Function):
    """Forward: max(x, 0). Backward: max(grad, 0), independent of x (the deconvnet rule)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: ANN001
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ANN001
        return grad.clamp(min=0)


@contextmanager
def deconvnet_relus(model: nn.Module) -> Iterator[int]:
    """Inside the block, every ``nn.ReLU`` of ``model`` back-propagates max(grad, 0).

    The forward value is unchanged. Yields the number of ReLU modules swapped; hooks are removed
    on exit, also when an exception escapes.

    Raises:
        OptionError: an in-place ReLU (its input is overwritten, so the swap would be wrong).
    """
    with ExitStack() as stack:
        count = 0
        for name, m in model.named_modules():
            if isinstance(m, nn.ReLU):
                if m.inplace:
                    raise OptionError(f"ReLU {name!r} is in-place; the deconvnet needs non-inplace nn.ReLU modules")
                handle = m.register_forward_hook(lambda _m, inputs, _out: _DeconvReLU.apply(inputs[0]))
                stack.callback(handle.remove)
                count += 1
        yield count


@dataclass(frozen=True)
class DeconvProjection:
    """Projections of one activation per image.

    Attributes:
        pixels: (B, 3, H, W) the projection onto the model's input.
        positions: (B, 2) long, the (row, col) of the projected activation in the layer grid.
        values: (B,) the activation's value.
    """

    pixels: Tensor
    positions: Tensor
    values: Tensor


def project_activation(
    model: nn.Module,
    inputs: Tensor,
    *,
    layer: str,
    channels: Tensor | int,
    positions: Tensor | None = None,
) -> DeconvProjection:
    """Project one activation per image of ``layer`` back to the input with the deconvnet.

    Args:
        model: any CNN whose ReLUs are ``nn.ReLU`` modules; not modified.
        inputs: (B, 3, H, W) model inputs.
        layer: submodule name whose output (B, C, H', W') holds the activation.
        channels: the channel, one for all images or a (B,) long tensor.
        positions: (B, 2) long (row, col) per image; None takes each image's strongest
            activation of the channel (first in row-major order on ties).

    Returns:
        :class:`DeconvProjection`; the seed is the activation's value (Zeiler & Fergus), so a
        zero activation projects to zero.
    """
    x = inputs.detach().clone().requires_grad_(True)
    with deconvnet_relus(model), capture_output(find_layer(model, layer)) as store:
        model(x)
    act = one_output(store, layer)
    b, c, h, w = act.shape
    chans = torch.as_tensor(channels, device=act.device).long().expand(b).clone()
    if bool(((chans < 0) | (chans >= c)).any()):
        raise OptionError(f"channel out of range for layer {layer!r} with {c} channels: {chans.tolist()}")
    maps = act[torch.arange(b, device=act.device), chans]  # (B, H', W')
    if positions is None:
        flat = maps.detach().flatten(1).argmax(1)
        positions = torch.stack([flat // w, flat % w], dim=1)
    positions = positions.to(act.device).long()
    rows, cols = positions[:, 0], positions[:, 1]
    values = maps.detach()[torch.arange(b, device=act.device), rows, cols]
    seed = torch.zeros_like(act)
    seed[torch.arange(b, device=act.device), chans, rows, cols] = values
    (pixels,) = torch.autograd.grad(act, x, grad_outputs=seed)
    return DeconvProjection(pixels=pixels.detach(), positions=positions.cpu(), values=values.cpu())
