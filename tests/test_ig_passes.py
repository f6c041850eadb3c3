"""IG in chunks of quadrature steps: same attribution, the passes Captum is asked for."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attrbench.api import ClassLogit
from attrbench.testing.models import tiny_bagnet
from attrbench.methods import get_method

IntegratedGradients = get_method("ig")


class PassSizes(nn.Module):
    """Wraps a model and records the batch size of every forward."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.sizes: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        self.sizes.append(x.shape[0])
        return self.inner(x)


def test_steps_per_pass_chunks_the_quadrature_without_changing_it() -> None:
    model = tiny_bagnet(17, dtype=torch.float64)
    x = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    target = ClassLogit(torch.tensor([0, 1, 2]))
    out = {}
    for spp in (None, 8, 16, 32):
        counted = PassSizes(model)
        ig = IntegratedGradients(counted, spec=model.spec, n_steps=32, steps_per_pass=spp)
        out[spp] = ig.attribute(x, target=target)
        passes = 1 if spp is None or spp >= 32 else 32 // spp
        assert counted.sizes == [3 * 32 // passes] * passes, spp
    for spp in (8, 16, 32):
        torch.testing.assert_close(out[spp], out[None], rtol=0, atol=1e-12)
    # an explicit internal_batch_size wins
    counted = PassSizes(model)
    IntegratedGradients(counted, spec=model.spec, n_steps=32, internal_batch_size=48).attribute(x, target=target)
    assert counted.sizes == [48, 48]
