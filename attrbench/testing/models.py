"""Small models for tests and examples (shipped in the package, as Captum does)."""

from __future__ import annotations

import torch

from attrbench.api import ModelSpec
from attrbench.models.bagnet import BagNet
from attrbench.models.common import ImageModel

__all__ = ["randomise_batchnorm", "seeded", "tiny_bagnet"]


def seeded(factory, seed: int):  # noqa: ANN001, ANN201
    """``factory()`` under ``torch.manual_seed(seed)``, restoring the global RNG state after."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return factory()
    finally:
        torch.random.set_rng_state(state)


def randomise_batchnorm(net: torch.nn.Module, *, generator: torch.Generator) -> None:
    """Random BN statistics and affine parameters, so eval-mode BN is a non-trivial affine map."""
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=generator) * 0.1)


def tiny_bagnet(
    q: int = 9,
    *,
    num_classes: int = 5,
    width: int = 4,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    input_size: tuple[int, int] = (48, 48),
) -> ImageModel:
    """A randomly initialised, eval-mode BagNet-q with one block per stage.

    BatchNorm running statistics are randomised too, so eval-mode BN is a non-trivial affine
    map (as in a trained network). CAM layer ``net.layer4``; ground truth declared.
    """
    net = seeded(lambda: BagNet(q, num_classes=num_classes, width=width, layers=(1, 1, 1, 1)), seed)
    randomise_batchnorm(net, generator=torch.Generator().manual_seed(seed))
    spec = ModelSpec(
        name=f"tiny-bagnet{q}",
        input_size=input_size,
        num_outputs=num_classes,
        cam_layer="net.layer4",
        cam_layers=("net.layer2", "net.layer3", "net.layer4"),
        receptive_field=q,
    )
    return ImageModel(net, spec=spec).to(dtype).eval()
