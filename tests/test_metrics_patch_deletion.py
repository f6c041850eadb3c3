"""Patch-evidence deletion on a tiny float64 BagNet against its closed form, ties by enumeration."""

from __future__ import annotations

import itertools

import pytest
import torch

from attrbench.metrics import get_metric
from attrbench.metrics.patch_deletion import PatchDeletion, expected_cumulative
from attrbench.testing.models import tiny_bagnet
from attrbench.testing.toys import make_context


def _case():
    model = tiny_bagnet(9, num_classes=5, width=4, seed=2, input_size=(40, 40))  # float64, 4 x 4 patch grid
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, 40, 40, generator=gen, dtype=torch.float64)
    labels = torch.tensor([1, 3])
    return model, x, labels


def _closed_form(model, x, labels, order: list[int], fill: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    """s_k = (1/N) (sum of l_p(b) over the first k patches of ``order`` + sum of l_p(x) over the rest)."""
    lx = model.patch_logits(x)[..., labels].flatten()
    lb = model.patch_logits(fill)[..., labels].flatten()
    n = lx.numel()
    return torch.stack([
        (sum(lb[p] for p in order[:k]) + sum(lx[p] for p in order[k:])) / n for k in range(n + 1)
    ])


def test_curve_equals_the_closed_form_and_the_model_at_both_ends() -> None:
    model, x, labels = _case()
    gen = torch.Generator().manual_seed(6)
    grid = torch.randn(2, 4, 4, generator=gen, dtype=torch.float64)  # distinct values: one order
    ctx = make_context(model=model, images=x, labels=labels, maps=x[:, :1], grid_map=grid)
    res = PatchDeletion(fill="mean").compute(ctx)
    scores = res.curves["patch_deletion"].scores
    fill = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    for i in range(2):
        order = torch.argsort(grid[i].flatten(), descending=True).tolist()
        expected = _closed_form(model, x[i : i + 1], int(labels[i]), order, fill[i : i + 1])
        torch.testing.assert_close(scores[i], expected, rtol=0, atol=1e-12)
    with torch.no_grad():
        f_x = model(x).gather(1, labels.view(-1, 1)).squeeze(1)
        f_b = model(fill).gather(1, labels.view(-1, 1)).squeeze(1)
    torch.testing.assert_close(scores[:, 0], f_x, rtol=0, atol=1e-12)  # the BagNet identity, both ends
    torch.testing.assert_close(scores[:, -1], f_b, rtol=0, atol=1e-12)
    fr = res.curves["patch_deletion"].fractions
    raw = torch.trapezoid(scores, fr.expand_as(scores), dim=1)
    torch.testing.assert_close(res.values["patch_deletion_auc_raw"], raw, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.values["patch_deletion_auc"], (raw - f_b) / (f_x - f_b), rtol=0, atol=1e-12)
    assert get_metric("patch_deletion") is PatchDeletion


def test_tied_patches_give_the_mean_curve_over_all_their_orders() -> None:
    model, x, labels = _case()
    grid = torch.arange(16, dtype=torch.float64).flip(0).view(1, 4, 4).repeat(2, 1, 1)
    grid[:, 1, :3] = 20.0  # patches 4, 5, 6 tied at the top
    grid[:, 3, 1:] = -1.0  # patches 13, 14, 15 tied at the bottom
    ctx = make_context(model=model, images=x, labels=labels, maps=x[:, :1], grid_map=grid)
    scores = PatchDeletion(fill="zero").compute(ctx).curves["patch_deletion"].scores
    middle = [p for p in torch.argsort(grid[0].flatten(), descending=True, stable=True).tolist()
              if p not in (4, 5, 6, 13, 14, 15)]
    for i in range(2):
        curves = [
            _closed_form(model, x[i : i + 1], int(labels[i]), [*top, *middle, *bottom], torch.zeros_like(x[:1]))
            for top in itertools.permutations((4, 5, 6)) for bottom in itertools.permutations((13, 14, 15))
        ]
        torch.testing.assert_close(scores[i], torch.stack(curves).mean(dim=0), rtol=0, atol=1e-12)


def test_expected_cumulative_of_an_all_tied_row_is_linear() -> None:
    deltas = torch.tensor([[1.0, 2.0, 6.0]], dtype=torch.float64)
    out = expected_cumulative(torch.zeros(1, 3, dtype=torch.float64), deltas)
    torch.testing.assert_close(out, torch.tensor([[0.0, 3.0, 6.0, 9.0]], dtype=torch.float64), rtol=0, atol=1e-15)


def test_patch_deletion_needs_a_bagnet_and_known_options() -> None:
    with pytest.raises(ValueError, match="fill"):
        PatchDeletion(fill="gray")
    model, x, labels = _case()
    ctx = make_context(model=model, images=x, labels=labels, maps=x[:, :1])
    ctx.rf = None
    with pytest.raises(TypeError, match="BagNet"):
        PatchDeletion().compute(ctx)
