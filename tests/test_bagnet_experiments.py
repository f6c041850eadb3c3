"""The BagNet-paper experiments' computations: interaction, scrambling, masking (hand-checkable)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attrbench.experiments.bagnet.interaction import dc_replace, interaction_effects, pearson, perturbation_sites
from attrbench.experiments.bagnet.masking import (
    block_scores,
    drop_auc,
    masked_probabilities,
    order_from_scores,
)
from attrbench.experiments.bagnet.scrambling import interior_positions, scramble
from attrbench.experiments.bagnet.spatial_sensitivity import bagnet_block_scores, steps_of
from attrbench.testing.bagnet_toys import BlockLinear, tiny_comparison
from attrbench.testing.models import tiny_bagnet


def _images(n: int = 6, size: int = 48, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(3), dtype=torch.float64).to(dtype)


# ------------------------------------------------------------------ interaction (eq. 1)
def test_sites_are_every_second_square_of_every_second_row() -> None:
    assert perturbation_sites(height=20, width=20, q=4) == [
        (r, r + 4, c, c + 4) for r in (0, 8, 16) for c in (0, 8, 16)]
    assert perturbation_sites(height=10, width=10, q=4)[-1] == (8, 10, 8, 10)  # cut by the border


def test_dc_replace_by_construction() -> None:
    x = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    x[0, 0, :2, :2] = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # mean 3
    x[0, 1, :2, :2] = torch.tensor([[0.0, 0.0], [0.0, 8.0]])  # mean 2
    x[0, 2] = 7.0
    y = dc_replace(x, (0, 2, 0, 2))
    torch.testing.assert_close(y[0, :, :2, :2], torch.tensor([3.0, 2.0, 7.0], dtype=torch.float64).view(3, 1, 1).expand(3, 2, 2))
    torch.testing.assert_close(y[..., 2:, :], x[..., 2:, :], rtol=0, atol=0)
    torch.testing.assert_close(y[..., :, 2:], x[..., :, 2:], rtol=0, atol=0)


def test_bagnet_is_exactly_additive_in_float64() -> None:
    model = tiny_bagnet(17, dtype=torch.float64)
    isolated, joint = interaction_effects(model, _images(), q=16)
    assert joint.abs().max() > 1e-3  # the perturbation does something
    torch.testing.assert_close(isolated, joint, rtol=0, atol=1e-10)


def test_bagnet_pearson_one_in_float32_and_less_for_a_comparison_network() -> None:
    images = _images(dtype=torch.float32)
    for q, r in ((16, 17), (8, 9)):
        iso, joint = interaction_effects(tiny_bagnet(r, dtype=torch.float32), images, q=q)
        assert pearson(iso.numpy(), joint.numpy()) == pytest.approx(1.0, abs=1e-6)
    iso, joint = interaction_effects(tiny_comparison(dtype=torch.float32), images, q=16)
    assert pearson(iso.numpy(), joint.numpy()) < 1 - 1e-6


def test_bagnet_additivity_needs_squares_at_least_r_minus_1_apart() -> None:
    iso, joint = interaction_effects(tiny_bagnet(33, dtype=torch.float64), _images(), q=8)
    assert (iso - joint).abs().max() > 1e-6


def test_pearson_closed_form() -> None:
    assert pearson(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.5])) == pytest.approx(0.99794872, abs=1e-8)
    assert np.isnan(pearson(np.ones(3), np.arange(3.0)))


# ------------------------------------------------------------------ scrambling
def test_scramble_permutes_full_tiles_and_keeps_the_border() -> None:
    x = torch.arange(2 * 1 * 10 * 10, dtype=torch.float64).view(2, 1, 10, 10)
    y = scramble(x, tile=4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(y[..., 8:, :], x[..., 8:, :], rtol=0, atol=0)
    torch.testing.assert_close(y[..., :, 8:], x[..., :, 8:], rtol=0, atol=0)
    def tiles(t: torch.Tensor) -> list[list[float]]:
        return sorted(t[0, 0, r:r + 4, c:c + 4].flatten().tolist() for r in (0, 4) for c in (0, 4))
    for i in range(2):
        assert tiles(y[i : i + 1]) == tiles(x[i : i + 1])
    assert not torch.equal(y, x)


def test_interior_share_by_hand() -> None:
    # q = 9, stride 8, 48 px: window starts 0, 8, 16, 24, 32; tile 16 keeps starts 0, 16, 32 per axis
    inside = interior_positions(grid=(5, 5), q=9, stride=8, tile=16, size=(48, 48))
    assert inside[:, 0].tolist() == [True, False, True, False, True]
    assert float(inside.double().mean()) == pytest.approx(9 / 25)
    assert not interior_positions(grid=(5, 5), q=9, stride=8, tile=8, size=(48, 48)).any()  # tiles smaller than q


@pytest.mark.parametrize(("q", "tile"), [(9, 16), (17, 24), (9, 24)])
def test_bagnet_interior_patch_logits_survive_scrambling(q: int, tile: int) -> None:
    """The documented statement: multiset of interior patch logits is invariant (exactly), and
    f(x') - f(x) = (1/N) sum over the other positions of (l_p(x') - l_p(x))."""
    model = tiny_bagnet(q, dtype=torch.float64)
    x = _images(n=3)
    y = scramble(x, tile=tile, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        lx, ly = model.patch_logits(x), model.patch_logits(y)  # (B, H', W', C)
        fx, fy = model(x), model(y)
    inside = interior_positions(grid=tuple(lx.shape[1:3]), q=q, stride=8, tile=tile, size=(48, 48))
    assert inside.any() and not inside.all()
    for b in range(3):
        a = torch.sort(lx[b][inside], dim=0).values
        torch.testing.assert_close(torch.sort(ly[b][inside], dim=0).values, a, rtol=0, atol=1e-12)
    n = inside.numel()
    border = ((ly - lx)[:, ~inside]).sum(dim=1) / n
    torch.testing.assert_close(fy - fx, border, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ spatial sensitivity
def test_block_scores_and_auc_by_hand() -> None:
    m = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4)
    assert block_scores(m, block=2).tolist() == [[10.0, 18.0, 42.0, 50.0]]
    assert block_scores(torch.ones(1, 1, 5, 5), block=2).tolist() == [[4.0] * 4]  # partial border ignored
    probs = torch.tensor([[1.0, 0.5, 0.0]])
    assert drop_auc(probs, steps=[0, 1, 2]).tolist() == [0.5]  # drops 0, .5, 1 -> area 1 over 2
    assert steps_of(max_patches=5, step=2, blocks=36) == [0, 2, 4, 5]


def test_order_breaks_ties_by_seed_not_reading_order() -> None:
    s = torch.tensor([[0.0, 3.0, 1.0, 3.0]])
    o = order_from_scores(s, generator=torch.Generator().manual_seed(0))
    assert set(o[0, :2].tolist()) == {1, 3} and o[0, 2:].tolist() == [2, 0]
    flat = order_from_scores(torch.zeros(1, 50), generator=torch.Generator().manual_seed(0))
    assert flat[0].tolist() != list(range(50)) and sorted(flat[0].tolist()) == list(range(50))


def test_masking_curve_matches_closed_form_and_true_order_drops_fastest() -> None:
    g = torch.Generator().manual_seed(5)
    weights = torch.randn(4, 4, generator=g, dtype=torch.float64) * 0.05
    model = BlockLinear(weights)
    x = torch.rand(3, 3, 32, 32, generator=g, dtype=torch.float64)
    contrib = (model.block_sums(x) * weights).reshape(3, 16)  # c_b: what masking block b removes (fill 0)
    classes = torch.zeros(3, dtype=torch.long)
    steps = list(range(17))
    true = order_from_scores(contrib, generator=g)
    probs = masked_probabilities(model, x, classes, true, steps=steps, block=8, fill=torch.zeros(3))
    removed = torch.cat([torch.zeros(3, 1, dtype=torch.float64), contrib.gather(1, true).cumsum(1)], dim=1)
    torch.testing.assert_close(probs, torch.sigmoid(contrib.sum(1, keepdim=True) - removed), rtol=0, atol=1e-12)
    pixel_truth = (weights.repeat_interleave(8, 0).repeat_interleave(8, 1) * x.sum(1))[:, None]
    assert torch.equal(order_from_scores(block_scores(pixel_truth, block=8), generator=g), true)
    rand = order_from_scores(torch.zeros(3, 16), generator=g)
    auc = {name: drop_auc(masked_probabilities(model, x, classes, o, steps=steps, block=8, fill=torch.zeros(3)),
                          steps=steps) for name, o in (("true", true), ("random", rand), ("reverse", true.flip(1)))}
    assert np.all(auc["true"] >= auc["random"] - 1e-12) and np.all(auc["random"] >= auc["reverse"] - 1e-12)
    assert np.all(auc["true"] > auc["reverse"])


def test_bagnet_heatmap_blocks_sum_to_the_patch_logits() -> None:
    model = tiny_bagnet(9, dtype=torch.float64)
    x = _images(n=2)
    classes = torch.tensor([1, 3])
    scores = bagnet_block_scores(model, x, classes)
    with torch.no_grad():
        pl = model.patch_logits(x)
    torch.testing.assert_close(scores.sum(1), pl[torch.arange(2), ..., classes].sum(dim=(1, 2)), rtol=0, atol=1e-10)
