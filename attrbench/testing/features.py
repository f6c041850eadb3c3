"""Tiny models for the feature-visualisation tests, addressable by name (``module:factory``)."""

from __future__ import annotations

import torch

from attrbench.api import ModelSpec
from attrbench.models.common import ImageModel
from attrbench.models.comparison import small_vgg
from attrbench.testing.models import randomise_batchnorm, seeded

__all__ = ["TINY_VGG", "tiny_vgg"]

#: the tiny VGG by name, for command-line tests.
TINY_VGG = "attrbench.testing.features:tiny_vgg"


def tiny_vgg() -> ImageModel:
    """A seeded, eval-mode SmallVGG (width 2, 2 classes) for 32 x 32 inputs; cam_layers = the
    last ReLU of stages 2, 3 and 4 (as the shipped VGG's spec)."""
    net = seeded(lambda: small_vgg(2, width=2), 0)
    randomise_batchnorm(net, generator=torch.Generator().manual_seed(0))
    spec = ModelSpec(name="tiny-vgg", input_size=(32, 32), num_outputs=2, cam_layer="net.features.26",
                     cam_layers=("net.features.12", "net.features.19", "net.features.26"))  # fmt: skip
    return ImageModel(net, spec=spec).eval()
