"""The model wrapper every run uses: pixel-space input, normalisation inside, spec attached."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from attrbench.api import ModelSpec

__all__ = ["ImageModel"]


class ImageModel(nn.Module):
    """Wraps a network so that it takes images in [0, 1] and carries its :class:`ModelSpec`.

    Baselines, fill values and attributions therefore live in pixel space; the per-channel
    normalisation ``(x - mean) / std`` is an affine map applied inside.

    Args:
        net: the network (takes normalised images).
        spec: the model's spec (``mean``/``std`` are applied here; ``cam_layer`` is relative to
            this wrapper, e.g. ``"net.layer4"``).

    Shapes: forward (B, 3, H, W) in [0, 1] -> net's output; patch_logits (if the net has it)
        -> (B, H', W', C).

    Attributes:
        checkpoint_meta: how a loaded checkpoint was trained (its ``meta`` entry, e.g. the
            triplet margin of an embedding network); empty for models not loaded from a checkpoint.
    """

    def __init__(self, net: nn.Module, *, spec: ModelSpec) -> None:
        super().__init__()
        self.net = net
        self.spec = spec
        self.checkpoint_meta: dict[str, Any] = {}
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x))

    @property
    def has_patch_logits(self) -> bool:
        return hasattr(self.net, "patch_logits")

    def patch_logits(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, H', W', C) per-position logits (BagNets only)."""
        if not self.has_patch_logits:
            raise TypeError(f"model {self.spec.name!r} has no patch logits (no ground truth)")
        return self.net.patch_logits(self.normalize(x))  # type: ignore[operator]
