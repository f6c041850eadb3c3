"""Small embedding models and data for tests and examples (shipped in the package)."""

from __future__ import annotations

import torch

from attrbench.api import ModelSpec, Sample
from attrbench.models.common import ImageModel
from attrbench.models.embedding import EmbeddingNet

__all__ = ["random_samples", "tiny_embedding_net"]


def tiny_embedding_net(
    *,
    backbone: str = "bagnet9",
    dim: int = 8,
    width: int = 4,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    input_size: tuple[int, int] = (48, 48),
) -> ImageModel:
    """A randomly initialised, eval-mode :class:`EmbeddingNet` with one block per stage.

    BatchNorm statistics are randomised so eval-mode BN is a non-trivial affine map.
    """
    gen = torch.Generator().manual_seed(seed)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers = (1, 1, 1, 1) if backbone.startswith("bagnet") else (1, 1, 1)
        net = EmbeddingNet(backbone=backbone, width=width, layers=layers, dim=dim)
    finally:
        torch.random.set_rng_state(state)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    spec = ModelSpec(name=f"tiny-embedding-{backbone}", kind="embedding", input_size=input_size, num_outputs=dim,
                     cam_layer="net." + net.cam_layer)
    return ImageModel(net, spec=spec).to(dtype).eval()


def random_samples(n: int, *, num_classes: int, size: int = 48, seed: int = 0,
                   dtype: torch.dtype = torch.float64) -> list[Sample]:
    """``n`` random images, labels cycling over ``num_classes``, ids ``"s<i>"``."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=gen, dtype=dtype)
    return [Sample(image=images[i], label=i % num_classes, id=f"s{i}") for i in range(n)]
