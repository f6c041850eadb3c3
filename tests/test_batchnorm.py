"""attrbench.models.batchnorm.BatchNorm2d: the eval-mode affine form equals nn.BatchNorm2d.

Checked against PyTorch's own module with the same state: in float64 the two eval forwards and
input gradients agree to 1e-12; training mode is PyTorch's module bit for bit (same running
averages); state dicts load both ways; in eval mode the parameters get no gradient.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench.models.batchnorm import BatchNorm2d


def _pair(*, affine: bool = True, dtype: torch.dtype = torch.float64) -> tuple[BatchNorm2d, nn.BatchNorm2d]:
    gen = torch.Generator().manual_seed(0)
    ours, ref = BatchNorm2d(5, affine=affine).to(dtype), nn.BatchNorm2d(5, affine=affine).to(dtype)
    with torch.no_grad():
        ours.running_mean.copy_(torch.randn(5, generator=gen, dtype=dtype))
        ours.running_var.copy_(torch.rand(5, generator=gen, dtype=dtype) + 0.1)
        if affine:
            ours.weight.copy_(torch.randn(5, generator=gen, dtype=dtype))
            ours.bias.copy_(torch.randn(5, generator=gen, dtype=dtype))
    ref.load_state_dict(ours.state_dict())
    return ours, ref


@pytest.mark.parametrize("affine", [True, False])
def test_eval_forward_and_input_gradient_equal_pytorch(affine: bool) -> None:
    ours, ref = _pair(affine=affine)
    ours.eval(), ref.eval()
    x = torch.randn(3, 5, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    g = torch.randn(3, 5, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    (dx_ours,) = torch.autograd.grad(ours(x), x, g)
    (dx_ref,) = torch.autograd.grad(ref(x), x, g)
    assert torch.allclose(ours(x), ref(x), rtol=0, atol=1e-12)
    assert torch.allclose(dx_ours, dx_ref, rtol=0, atol=1e-12)
    # by hand for one entry: (x - mean) / sqrt(var + eps) * w + b
    with torch.no_grad():
        w = float(ours.weight[2]) if affine else 1.0
        b = float(ours.bias[2]) if affine else 0.0
        by_hand = (float(x[1, 2, 3, 4]) - float(ours.running_mean[2])) / (float(ours.running_var[2]) + ours.eps) ** 0.5 * w + b
        assert float(ours(x)[1, 2, 3, 4]) == pytest.approx(by_hand, abs=1e-12)


def test_float32_channels_last_keeps_layout_and_values() -> None:
    ours, ref = _pair(dtype=torch.float32)
    ours.eval(), ref.eval()
    x = torch.randn(2, 5, 7, 7).to(memory_format=torch.channels_last)
    y = ours(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(y, ref(x), rtol=1e-6, atol=1e-6)


def test_training_mode_is_pytorch_bit_for_bit() -> None:
    ours, ref = _pair()
    ours.train(), ref.train()
    x = torch.randn(4, 5, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(ours(x), ref(x))
    assert torch.equal(ours.running_mean, ref.running_mean) and torch.equal(ours.running_var, ref.running_var)
    ours(x).sum().backward()
    assert ours.weight.grad is not None and ours.bias.grad is not None


def test_state_dicts_interchange_and_isinstance() -> None:
    ours, ref = _pair()
    assert isinstance(ours, nn.BatchNorm2d)
    assert list(ours.state_dict()) == list(ref.state_dict())
    fresh = BatchNorm2d(5).double()
    fresh.load_state_dict(ref.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), ref.state_dict().values()))


def test_eval_parameters_get_no_gradient() -> None:
    ours, _ = _pair()
    ours.eval()
    x = torch.randn(2, 5, 3, 3, dtype=torch.float64, requires_grad=True)
    ours(x).sum().backward()
    assert x.grad is not None
    assert ours.weight.grad is None and ours.bias.grad is None
