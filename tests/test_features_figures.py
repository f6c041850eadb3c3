"""Figure helpers: heat maps placed by receptive-field geometry, crops, display scaling."""

from __future__ import annotations

import numpy as np
import torch

from attrbench.features.figures import crop, heat_map, to_display
from attrbench.features.geometry import LayerGeometry


def test_heat_map_places_each_unit_at_its_receptive_field() -> None:
    # 2 x 2 units of 4 x 4 px at stride 4: every pixel takes its own block's score.
    geo = LayerGeometry(size=(4, 4), stride=(4, 4), offset=(0, 0), grid=(2, 2))
    heat = heat_map(torch.tensor([1.0, 2.0, 3.0, 4.0]), geometry=geo, size=(8, 8))
    expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64).repeat_interleave(4, 0).repeat_interleave(4, 1)
    assert torch.equal(heat, expected)
    # padding offset -1, size 3, stride 2 on 4 px: centres 0, 2 -> pixels 0, 1 | 2, 3 (ties round to even)
    geo = LayerGeometry(size=(3, 3), stride=(2, 2), offset=(-1, -1), grid=(2, 2))
    heat = heat_map(torch.tensor([1.0, 2.0, 3.0, 4.0]), geometry=geo, size=(4, 4))
    assert heat[0].tolist() == [1.0, 1.0, 2.0, 2.0] and heat[:, 0].tolist() == [1.0, 1.0, 3.0, 3.0]


def test_crop_clips_to_the_image_and_display_scaling() -> None:
    t = torch.arange(2 * 5 * 6, dtype=torch.float64).reshape(2, 5, 6)
    assert torch.equal(crop(t, (-2, 3, 4, 9)), t[:, 0:3, 4:6])
    shown = to_display(torch.tensor([[[-2.0, 0.0, 1.0]]]).expand(3, 1, 3), signed=True)
    np.testing.assert_allclose(shown[0, :, 0], [0.0, 0.5, 0.75], rtol=0, atol=1e-12)
