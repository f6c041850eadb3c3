"""Incremental BagNet curves equal full re-forward curves (differential tests)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench.api import ClassLogit
from attrbench.metrics.bagnet_curves import bagnet_parts, incremental_cost_ratio, unit_windows
from attrbench.metrics.curve_engine import INCREMENTAL_MAX_RATIO, incremental_outputs
from attrbench.metrics.perturbation import perturbation_curves, step_counts
from attrbench.testing.models import tiny_bagnet

# (unit, steps): one block per step, several blocks per step, units off the stride grid, large units
GRID = [(8, 1000), (8, 7), (5, 10), (16, 3)]


def _curves(model: nn.Module, *, engine: str, mode: str, fill: str, unit: int, steps: int, score: str = "logit"):
    dtype = next(model.parameters()).dtype
    g = torch.Generator().manual_seed(unit * 1000 + steps)
    x = torch.rand(2, 3, 49, 42, generator=g, dtype=dtype)  # not a multiple of the stride: border units
    maps = torch.rand(2, 1, 49, 42, generator=g, dtype=dtype)
    target = ClassLogit(torch.tensor([0, 3]))
    return perturbation_curves(
        model=model, images=x, maps=maps, target=target, mode=mode, fill=fill, unit=unit, steps=steps, score=score, engine=engine
    )


@pytest.mark.parametrize("q", [9, 17, 33])
@pytest.mark.parametrize("mode", ["deletion", "insertion"])
@pytest.mark.parametrize("fill", ["zero", "mean", "blur"])
def test_incremental_equals_full_float64(q: int, mode: str, fill: str) -> None:
    model = tiny_bagnet(q, dtype=torch.float64, seed=q)
    for unit, steps in GRID:
        f_full, full = _curves(model, engine="full", mode=mode, fill=fill, unit=unit, steps=steps)
        f_inc, inc = _curves(model, engine="incremental", mode=mode, fill=fill, unit=unit, steps=steps)
        assert torch.equal(f_full, f_inc)
        # the curves move far more than the tolerance, so a stale position would be caught
        assert float((full.amax(dim=1) - full.amin(dim=1)).min()) > 1e-4
        torch.testing.assert_close(inc, full, rtol=0, atol=1e-10)


@pytest.mark.parametrize("q", [9, 17, 33])
def test_incremental_equals_full_float32(q: int) -> None:
    model = tiny_bagnet(q, dtype=torch.float32, seed=q)
    for mode in ("deletion", "insertion"):
        _, full = _curves(model, engine="full", mode=mode, fill="blur", unit=8, steps=1000)
        _, inc = _curves(model, engine="incremental", mode=mode, fill="blur", unit=8, steps=1000)
        torch.testing.assert_close(inc, full, rtol=0, atol=1e-5)


def test_probability_score_uses_all_classes() -> None:
    model = tiny_bagnet(17, dtype=torch.float64)
    _, full = _curves(model, engine="full", mode="deletion", fill="zero", unit=8, steps=1000, score="probability")
    _, inc = _curves(model, engine="incremental", mode="deletion", fill="zero", unit=8, steps=1000, score="probability")
    torch.testing.assert_close(inc, full, rtol=0, atol=1e-10)


def test_window_geometry_bagnet33() -> None:
    """One 8 x 8 block touches 5 x 5 positions of a BagNet-33: a 65 x 65 crop (BAGNET.md sec. 6)."""
    net = tiny_bagnet(33).net
    win = unit_windows(net=net, height=224, width=224, unit=8)
    assert win.grid == (24, 24) and win.size == (5, 5) and win.crop == (65, 65)
    assert int(win.live.sum()) == 28 * 28
    # the window of unit (10, 3) starts at position (10 - 4, 0): rows 48..112 contain 80..87
    assert win.start[10 * 28 + 3].tolist() == [6, 0]
    # every window lies inside the grid
    assert int(win.start.max()) <= 24 - 5


def test_auto_selects_incremental_only_for_fine_curves_on_bagnets() -> None:
    model = tiny_bagnet(9, dtype=torch.float64)
    net = model.net
    fine = incremental_cost_ratio(net=net, height=224, width=224, unit=8, counts=step_counts(784, 784))
    coarse = incremental_cost_ratio(net=net, height=224, width=224, unit=8, counts=step_counts(784, 4))
    assert fine <= INCREMENTAL_MAX_RATIO < coarse
    x = torch.rand(1, 3, 48, 48, dtype=torch.float64)
    ranks = torch.arange(36).view(1, -1)
    kwargs = dict(images=x, fill_x=torch.zeros_like(x), ranks=ranks, unit=8, mode="deletion", max_forward_batch=8)
    assert incremental_outputs(engine="auto", model=model, counts=step_counts(36, 36), **kwargs) is not None
    assert incremental_outputs(engine="auto", model=model, counts=step_counts(36, 2), **kwargs) is None
    assert incremental_outputs(engine="full", model=model, counts=step_counts(36, 36), **kwargs) is None


def test_generic_models_and_training_mode_keep_full_forwards() -> None:
    model = tiny_bagnet(9, dtype=torch.float64)
    assert bagnet_parts(model) is not None
    assert bagnet_parts(nn.Sequential(model)) is None
    model.train()
    assert bagnet_parts(model) is None
    x = torch.rand(1, 3, 48, 48, dtype=torch.float64)
    with pytest.raises(ValueError, match="needs an eval-mode BagNet"):
        perturbation_curves(
            model=model, images=x, maps=x[:, :1], target=ClassLogit(torch.tensor([0])), mode="deletion", engine="incremental"
        )
    with pytest.raises(ValueError, match="unknown curve engine"):
        perturbation_curves(
            model=model.eval(), images=x, maps=x[:, :1], target=ClassLogit(torch.tensor([0])), mode="deletion", engine="fast"
        )


def test_a_curve_may_stop_before_all_units() -> None:
    from attrbench.metrics.bagnet_curves import incremental_curve_outputs
    from attrbench.metrics.perturbation import unit_ranks

    model = tiny_bagnet(17, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 48, 48, generator=g, dtype=torch.float64)
    ranks, _ = unit_ranks(torch.rand(2, 1, 48, 48, generator=g, dtype=torch.float64), unit=8)
    parts = bagnet_parts(model)
    assert parts is not None
    kw = dict(parts=parts, images=x, fill_x=torch.zeros_like(x), ranks=ranks, unit=8, mode="deletion")
    whole = incremental_curve_outputs(counts=step_counts(36, 36), **kw)
    prefix = incremental_curve_outputs(counts=step_counts(36, 36)[:10], **kw)
    torch.testing.assert_close(prefix, whole[:, :10], rtol=0, atol=1e-12)
