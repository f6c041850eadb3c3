"""Small embedding models and data for tests and examples (shipped in the package)."""

from __future__ import annotations

import torch

from attrbench.api import ModelSpec, Sample
from attrbench.models.common import ImageModel
from attrbench.models.embedding import EmbeddingNet
from attrbench.testing.models import randomise_batchnorm, seeded

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
    layers = (1, 1, 1, 1) if backbone.startswith("bagnet") else (1, 1, 1)
    net = seeded(lambda: EmbeddingNet(backbone=backbone, width=width, layers=layers, dim=dim), seed)
    randomise_batchnorm(net, generator=torch.Generator().manual_seed(seed))
    spec = ModelSpec(name=f"tiny-embedding-{backbone}", kind="embedding", input_size=input_size, num_outputs=dim,
                     cam_layer="net." + net.cam_layer)
    return ImageModel(net, spec=spec).to(dtype).eval()


def random_samples(n: int, *, num_classes: int, size: int = 48, seed: int = 0,
                   dtype: torch.dtype = torch.float64) -> list[Sample]:
    """``n`` random images, labels cycling over ``num_classes``, ids ``"s<i>"``."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=gen, dtype=dtype)
    return [Sample(image=images[i], label=i % num_classes, id=f"s{i}") for i in range(n)]
