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
        ig = IntegratedGradients(counted, spec=model.spec, n_steps=32, steps_per_pass=spp, images_per_pass=None)
        out[spp] = ig.attribute(x, target=target)
        passes = 1 if spp is None or spp >= 32 else 32 // spp
        assert counted.sizes == [3 * 32 // passes] * passes, spp
    for spp in (8, 16, 32):
        torch.testing.assert_close(out[spp], out[None], rtol=0, atol=1e-12)
    # an explicit internal_batch_size wins
    counted = PassSizes(model)
    IntegratedGradients(counted, spec=model.spec, n_steps=32, internal_batch_size=48).attribute(x, target=target)
    assert counted.sizes == [48, 48]


def _sizes_and_maps(model: nn.Module, x: Tensor, target: ClassLogit, **options: object) -> tuple[list[int], Tensor]:
    counted = PassSizes(model)
    maps = IntegratedGradients(counted, spec=model.spec, n_steps=32, **options).attribute(x, target=target)
    return counted.sizes, maps


def test_default_passes_hold_32_images_whatever_the_batch() -> None:
    """images_per_pass=32: B samples get 32 // B points per pass (one pass once that reaches n_steps)."""
    model = tiny_bagnet(9, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    for b, sizes in ((8, [32] * 8), (2, [32] * 2), (3, [30, 30, 30, 6]), (1, [32]), (40, [40] * 32)):
        x = torch.rand(b, 3, 48, 48, generator=gen, dtype=torch.float64)
        target = ClassLogit(torch.arange(b) % 3)
        got, maps = _sizes_and_maps(model, x, target)
        assert got == sizes, b
        _, one_pass = _sizes_and_maps(model, x, target, images_per_pass=None)
        torch.testing.assert_close(maps, one_pass, rtol=0, atol=1e-12)


def test_default_run_batches_of_8_keep_the_old_passes_exactly() -> None:
    """The run's batches of 8: the same passes and bit-identical maps as the former default steps_per_pass=4."""
    model = tiny_bagnet(17)
    x = torch.rand(8, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    target = ClassLogit(torch.arange(8) % 3)
    new_sizes, new = _sizes_and_maps(model, x, target)
    old_sizes, old = _sizes_and_maps(model, x, target, steps_per_pass=4)
    assert new_sizes == old_sizes == [32] * 8
    assert torch.equal(new, old)


def test_two_samples_in_larger_passes_differ_by_float32_reordering_only() -> None:
    """MPRT re-explains 2 samples: 2 passes of 16 points instead of 8 passes of 4, the same sum reordered."""
    model = tiny_bagnet(17)
    x = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(3))
    target = ClassLogit(torch.tensor([0, 2]))
    new_sizes, new = _sizes_and_maps(model, x, target)
    old_sizes, old = _sizes_and_maps(model, x, target, steps_per_pass=4)
    assert (new_sizes, old_sizes) == ([32] * 2, [8] * 8)
    assert float((new - old).abs().max()) <= 1e-6 * float(old.abs().max())
