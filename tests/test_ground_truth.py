"""Ground truth on BagNets: exact identities in float64, aggregation rules by construction."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from attrbench.ground_truth import patch_truth, patches_to_pixels, pixels_to_patches, receptive_field_of
from attrbench.models.bagnet import ReceptiveField
from attrbench.testing.models import tiny_bagnet


@pytest.mark.parametrize("q", [9, 17, 33])
@pytest.mark.parametrize("baseline", [0.0, 0.5, "random"])
def test_truth_sums_to_logit_difference(q: int, baseline: float | str) -> None:
    model = tiny_bagnet(q, num_classes=4, seed=q)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 56, 64, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 3, 1])
    b = torch.rand(3, 3, 56, 64, generator=gen, dtype=torch.float64) if baseline == "random" else baseline
    g = patch_truth(model, x, labels=labels, baseline=b)
    b_img = b if torch.is_tensor(b) else torch.full_like(x, float(b))
    with torch.no_grad():
        expected = model(x).gather(1, labels[:, None])[:, 0] - model(b_img).gather(1, labels[:, None])[:, 0]
    assert g.shape == (3, *ReceptiveField(q).grid(56, 64))
    torch.testing.assert_close(g.sum((1, 2)), expected, rtol=0, atol=1e-8)


def test_truth_without_baseline_sums_to_logit_minus_bias() -> None:
    model = tiny_bagnet(17, num_classes=3)
    x = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    labels = torch.tensor([2, 0])
    g = patch_truth(model, x, labels=labels)
    with torch.no_grad():
        f = model(x).gather(1, labels[:, None])[:, 0]
    torch.testing.assert_close(g.sum((1, 2)), f - model.net.fc.bias[labels], rtol=0, atol=1e-10)


def test_rf_sum_counts_each_covered_pixel_once_per_patch() -> None:
    rf = ReceptiveField(9)  # grid on 33x33: (33 - 9) // 8 + 1 = 4
    ones = torch.ones(1, 1, 33, 33)
    grid = pixels_to_patches(ones, rf=rf, rule="rf_sum")
    torch.testing.assert_close(grid, torch.full((1, 4, 4), 81.0))
    # "share": a pixel seen by two patches counts 1/2 for each, so the total equals the covered area
    shared = pixels_to_patches(ones, rf=rf, rule="share")
    assert shared.sum().item() == pytest.approx(float((rf.coverage(33, 33) > 0).sum()))


def test_single_pixel_goes_to_exactly_the_patches_that_see_it() -> None:
    rf = ReceptiveField(17)  # grid on 41x41: 4x4, patches overlap by 9 px
    attr = torch.zeros(1, 1, 41, 41)
    attr[0, 0, 10, 3] = 1.0  # rows 8..24 and 0..16 see row 10; cols 0..16 see col 3
    grid = pixels_to_patches(attr, rf=rf)
    expected = torch.zeros(1, 4, 4)
    expected[0, 0:2, 0] = 1.0
    torch.testing.assert_close(grid, expected)


def test_uncovered_border_counts_for_no_patch() -> None:
    rf = ReceptiveField(9)
    attr = torch.zeros(1, 1, 36, 36)  # grid 4x4 covers pixels 0..32; 33..35 uncovered
    attr[0, 0, 34, :] = 5.0
    assert pixels_to_patches(attr, rf=rf).abs().sum().item() == 0.0
    assert rf.coverage(36, 36)[33:].sum().item() == 0.0


def test_patches_to_pixels_is_the_adjoint_of_rf_sum() -> None:
    rf = ReceptiveField(17)
    gen = torch.Generator().manual_seed(3)
    grid = torch.randn(2, 4, 5, generator=gen, dtype=torch.float64)
    pix = torch.randn(2, 1, 48, 56, generator=gen, dtype=torch.float64)
    up = patches_to_pixels(grid, rf=rf, size=(48, 56))
    lhs = (up * pix).sum()
    rhs = (grid * pixels_to_patches(pix, rf=rf)).sum() / (17 * 17)
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(up.sum((1, 2, 3)), grid.sum((1, 2)), rtol=1e-12, atol=1e-12)


def test_map_on_the_grid_is_used_as_is() -> None:
    rf = ReceptiveField(33)
    grid = torch.arange(12.0).view(1, 1, 3, 4)
    torch.testing.assert_close(pixels_to_patches(grid, rf=rf), grid[:, 0])


def test_model_without_ground_truth_is_refused() -> None:
    model = tiny_bagnet(9)
    model.spec = dataclasses.replace(model.spec, receptive_field=None)
    with pytest.raises(TypeError, match="no patch ground truth"):
        receptive_field_of(model)
