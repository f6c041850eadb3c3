"""Cell truth: exact against brute-force Shapley, completeness, sampled error bars, border cells."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attrbench.api import ModelSpec
from attrbench.cell_truth import cell_grid, cell_sums, cell_truth, shapley_weights
from attrbench.geometry import Geometry, coverage_mask
from attrbench.models.bagnet import ReceptiveField
from attrbench.models.common import ImageModel
from attrbench.models.zoo import load_model
from attrbench.testing.models import seeded, tiny_bagnet
from attrbench.testing.shapley import brute_force_cell_shapley


def _images(n: int, h: int, w: int, *, seed: int = 1, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _gap(model: ImageModel, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return (model(x) - model(torch.zeros_like(x))).gather(1, labels.view(-1, 1))[:, 0].double()


def test_shapley_weights_two_players_closed_form() -> None:
    # phi_0 = (v({0}) - v({})) / 2 + (v({0,1}) - v({1})) / 2, subsets indexed by bits (0, {0}, {1}, {0,1})
    w = shapley_weights(2)
    half = 0.5
    assert torch.equal(w[:, 0], torch.tensor([-half, half, -half, half], dtype=torch.float64))
    assert torch.equal(w[:, 1], torch.tensor([-half, -half, half, half], dtype=torch.float64))


def test_cell_sums_by_construction() -> None:
    m = torch.arange(5 * 7, dtype=torch.float64).view(1, 1, 5, 7)
    sums = cell_sums(m, cell=4)
    assert sums.shape == (1, *cell_grid((5, 7), cell=4))
    assert sums[0, 0, 0] == m[0, 0, :4, :4].sum() and sums[0, 1, 1] == m[0, 0, 4:, 4:].sum()
    covered = torch.zeros(5, 7, dtype=torch.bool)
    covered[0, 0] = True
    assert cell_sums(m, cell=4, covered=covered).sum() == m[0, 0, 0, 0]


@pytest.mark.parametrize(
    ("q", "size", "n", "cell"),
    [(9, (24, 24), 2, 8), (9, (20, 27), 1, 8), (17, (17, 25), 1, 8), (9, (17, 23), 1, 6), (9, (17, 9), 1, 5)],
)
def test_exact_equals_brute_force(q: int, size: tuple[int, int], n: int, cell: int) -> None:
    """8 px cells (aligned with the windows, partial last cells) and 6 / 5 px cells (not aligned; with 5 px, windows touch 2 or 3 cells: null residues)."""
    model = tiny_bagnet(q, input_size=size)
    x = _images(n, *size)
    labels = torch.arange(n) % 5
    truth = cell_truth(model, x, labels=labels, baseline=0.0, cell=cell)
    assert truth.exact and truth.stderr.abs().max() == 0
    for i in range(n):
        ref = brute_force_cell_shapley(model, x[i], label=int(labels[i]), baseline=0.0, cell=cell)
        torch.testing.assert_close(truth.values[i], ref, rtol=0, atol=1e-10)


class _TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


def _tiny_cnn(size: tuple[int, int]) -> ImageModel:
    spec = ModelSpec(name="tiny-cnn", input_size=size, num_outputs=3)
    return ImageModel(seeded(_TinyCNN, 0), spec=spec).double().eval()


def test_generic_model_exact_and_sampled() -> None:
    model = _tiny_cnn((16, 24))  # 2 x 3 = 6 cells: one game over all cells
    x, labels = _images(3, 16, 24, seed=4), torch.tensor([0, 1, 2])
    exact = cell_truth(model, x, labels=labels)
    for i in range(3):
        ref = brute_force_cell_shapley(model, x[i], label=int(labels[i]))
        torch.testing.assert_close(exact.values[i], ref, rtol=0, atol=1e-10)
    sampled = cell_truth(model, x, labels=labels, max_exact_players=0, permutations=40, seed=0)
    assert not sampled.exact and sampled.forwards == 40 * 5 + 2
    torch.testing.assert_close(sampled.values.sum((1, 2)), _gap(model, x, labels), rtol=0, atol=1e-10)


def test_completeness_float32_shipped_checkpoint() -> None:
    model = load_model("bagnet9-synthbirds")
    x = _images(2, *model.spec.input_size, seed=2, dtype=torch.float32)
    labels = torch.tensor([0, 3])
    truth = cell_truth(model, x, labels=labels, baseline=0.0)
    assert truth.exact and truth.forwards == 2 ** ((model.spec.receptive_field - 1) // 8 + 1) ** 2
    torch.testing.assert_close(truth.values.sum((1, 2)), _gap(model, x, labels), rtol=0, atol=1e-5)


def test_q33_sampled_error_covers_brute_force() -> None:
    """Sampling forced on a q = 33 BagNet whose 16 px cells make brute force affordable (9 cells)."""
    model = tiny_bagnet(33, input_size=(33, 33))
    x, labels = _images(6, 33, 33, seed=2), torch.arange(6) % 5
    sampled = cell_truth(model, x, labels=labels, cell=16, max_exact_players=0, permutations=32, seed=0)
    assert not sampled.exact and bool((sampled.stderr > 0).all())
    exact = torch.stack([brute_force_cell_shapley(model, x[i], label=int(labels[i]), cell=16) for i in range(6)])
    within = ((sampled.values - exact).abs() <= 4 * sampled.stderr).double().mean()
    assert within >= 0.95
    # every sampled order telescopes: completeness is exact, not approximate
    torch.testing.assert_close(sampled.values.sum((1, 2)), _gap(model, x, labels), rtol=0, atol=1e-10)


def test_q33_default_cells_are_sampled_with_completeness() -> None:
    model = tiny_bagnet(33, input_size=(41, 41))
    x, labels = _images(1, 41, 41, seed=3), torch.tensor([2])
    truth = cell_truth(model, x, labels=labels, permutations=4)
    k = (33 - 1) // 8 + 1
    assert not truth.exact and truth.forwards == 4 * (k * k - 1) + 2
    torch.testing.assert_close(truth.values.sum((1, 2)), _gap(model, x, labels), rtol=0, atol=1e-10)


def test_border_cells_no_window_touches() -> None:
    """q = 9 on 23 x 23 with 4 px cells: rows 17..22 are seen by no patch, cell row 5 by no window."""
    rf, size, cell = ReceptiveField(9), (23, 23), 4
    model = tiny_bagnet(9, input_size=size)
    x, labels = _images(2, *size, seed=5), torch.tensor([1, 4])
    truth = cell_truth(model, x, labels=labels, cell=cell)
    seen = coverage_mask(geometry=Geometry.of(rf), grid=rf.grid(*size), size=size)
    expected = cell_sums(seen.double(), cell=cell)[0] > 0
    assert torch.equal(truth.covered, expected) and not bool(truth.covered.all())
    assert bool((truth.values[:, ~truth.covered] == 0).all())
    torch.testing.assert_close(truth.values.sum((1, 2)), _gap(model, x, labels), rtol=0, atol=1e-10)


def test_bad_options() -> None:
    model = tiny_bagnet(33, input_size=(41, 41))
    with pytest.raises(ValueError, match="permutations"):
        cell_truth(model, _images(1, 41, 41), labels=torch.tensor([0]), permutations=3)
    with pytest.raises(ValueError, match="cell side"):
        cell_grid((8, 8), cell=0)
    assert math.isclose(float(shapley_weights(3).sum(0)[0]), 0.0, abs_tol=1e-15)  # a constant game gives 0
