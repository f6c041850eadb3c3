"""ROAD: noisy linear imputation on hand-built images, and the MoRF / LeRF curves on an additive toy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from attrbench.metrics import get_metric
from attrbench.metrics.road import Road, noisy_linear_impute
from attrbench.testing.toys import make_context


def test_a_pixel_among_constant_neighbours_gets_the_constant() -> None:
    image = np.full((3, 5, 5), 0.25)
    image[:, 2, 2] = 0.9  # the removed value must not leak
    image[1] += 0.5  # a different constant per channel
    removed = np.zeros((5, 5), dtype=bool)
    removed[2, 2] = True
    out = noisy_linear_impute(image, removed, noise=0.0)
    np.testing.assert_allclose(out[:, 2, 2], [0.25, 0.75, 0.25], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(out[:, ~removed], image[:, ~removed])  # kept pixels untouched


def test_a_removed_block_in_a_linear_ramp_is_imputed_exactly() -> None:
    """The symmetric neighbourhood mean reproduces any affine function, so the harmonic solution of a
    removed interior block of a ramp a * row + b * col is the ramp itself."""
    rows, cols = np.mgrid[0:9, 0:9].astype(np.float64)
    image = np.stack([0.1 * rows + 0.02 * cols, 0.05 * cols, 0.3 - 0.01 * rows])
    removed = np.zeros((9, 9), dtype=bool)
    removed[2:7, 3:6] = True
    damaged = image.copy()
    damaged[:, removed] = 7.0
    np.testing.assert_allclose(noisy_linear_impute(damaged, removed, noise=0.0), image, rtol=0, atol=1e-12)


def test_noise_is_seeded_and_has_the_declared_scale() -> None:
    image = np.zeros((1, 40, 40))
    removed = np.zeros((40, 40), dtype=bool)
    removed[::2] = True  # every removed pixel has kept neighbours of value 0 -> imputed 0 + noise
    a = noisy_linear_impute(image, removed, noise=0.5, rng=np.random.default_rng(1))
    b = noisy_linear_impute(image, removed, noise=0.5, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    # the noiseless solution is exactly zero, so the imputed values are the noise draws themselves
    np.testing.assert_allclose(a[0][removed], 0.5 * np.random.default_rng(1).standard_normal(int(removed.sum())), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="keep at least one"):
        noisy_linear_impute(image, np.ones((40, 40), dtype=bool), noise=0.0)


class PixelSum(nn.Module):
    """logit_0 = sum of channel 0 over the pixels."""

    def forward(self, x: Tensor) -> Tensor:
        return x[:, 0].sum(dim=(1, 2)).view(-1, 1)


def test_road_morf_and_lerf_on_a_bright_square() -> None:
    """A bright 4 x 4 square (1.0) on a black 12 x 12 image, the map = the image: with half of the
    pixels removed MoRF imputes the square from black surroundings (logit near 0) while LeRF
    imputes black pixels from black neighbours (the square survives: logit 16)."""
    x = torch.zeros(1, 3, 12, 12, dtype=torch.float64)
    x[:, :, 4:8, 4:8] = 1.0
    maps = x[:, :1] + torch.linspace(0, 1e-3, 144, dtype=torch.float64).view(1, 1, 12, 12)  # no ties
    ctx = make_context(model=PixelSum(), images=x, labels=torch.zeros(1, dtype=torch.long), maps=maps)
    res = Road(fractions=(0.5,), noise=0.0, score="logit").compute(ctx)
    # MoRF at 50 %: the square and the brightest-ranked background pixels go; all removed pixels form one
    # region bordered only by kept black pixels -> imputed 0 exactly
    torch.testing.assert_close(res.values["road_morf"], torch.zeros(1, dtype=torch.float64), rtol=0, atol=1e-12)
    # LeRF at 50 %: only background pixels go; each removed region is bounded by black pixels or by the
    # square; the square keeps its 16, the imputed background adds a positive amount
    assert res.values["road_lerf"].item() > 16.0
    assert res.curves["road_morf"].scores.shape == (1, 1)
    assert get_metric("road") is Road


def test_road_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="fractions"):
        Road(fractions=(0.0, 0.5))
    with pytest.raises(ValueError, match="noise"):
        Road(noise=-1.0)
