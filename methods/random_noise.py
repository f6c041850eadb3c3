"""Random attribution: a reference row that any real method should beat.

    A(x)_c,i,j ~ U[0, 1) i.i.d.,   (B, 3, H, W).

The noise of a sample is drawn from a generator seeded by (seed, image content), so it is
deterministic, independent of the batch, and different for different images.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attrbench.api import AttributionMethod, MethodInfo, ModelSpec, Resolution, Target
from attrbench.methods.common import check_int, sample_seeds

__all__ = ["RandomAttribution"]


class RandomAttribution(AttributionMethod):
    """Seeded uniform noise at input resolution; ignores the model and the target.

    Args:
        seed: base seed.
    """

    info = MethodInfo(
        name="random",
        paper="reference row: uniform noise",
        resolution=Resolution.INPUT,
        stochastic=True,
        reference=True,
    )

    def __init__(self, model: nn.Module, *, spec: ModelSpec, seed: int = 0) -> None:
        super().__init__(model, spec=spec)
        self.seed = check_int("seed", seed, minimum=0)

    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """(B, 3, H, W) -> (B, 3, H, W) in [0, 1)."""
        noise = [
            torch.rand(inputs.shape[1:], generator=torch.Generator().manual_seed(s), dtype=inputs.dtype)
            for s in sample_seeds(inputs, self.seed)
        ]
        return torch.stack(noise).to(inputs.device)
