"""Occlusion sensitivity on a toy with a closed-form answer, and against per-image brute force."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attrbench.errors import OptionError
from attrbench.features.occlusion_sensitivity import (
    OcclusionMaps,
    occlusion_sensitivity,
    on_object_summary,
    square_positions,
)
from attrbench.models.comparison import small_vgg


def _toy() -> nn.Sequential:
    # channel sum (1x1 conv of ones) -> "layer" 0; mean over pixels -> logits (m, -m)
    conv = nn.Conv2d(3, 1, 1, bias=False).double()
    conv.weight.data.fill_(1.0)
    head = nn.Linear(1, 2, bias=False).double()
    head.weight.data = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    return nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)


def test_closed_form_on_a_half_white_image() -> None:
    # 8 x 8 image, ones on columns 0-3. A 4 x 4 black square at column c hides 4 * overlap(c) ones
    # per channel, overlap(c) = max(0, 4 - c) columns: activation 3 * (32 - 4 * overlap), logits +-m,
    # m = activation / 64, probability of class 0 = sigmoid(2 m).
    image = torch.zeros(3, 8, 8, dtype=torch.float64)
    image[:, :, :4] = 1.0
    maps = occlusion_sensitivity(_toy(), image, label=0, layer="0", size=4, stride=2, fill=0.0)
    assert maps.rows.tolist() == maps.cols.tolist() == [0, 2, 4]
    for j, c in enumerate((0, 2, 4)):
        act = 3 * (32 - 4 * max(0, 4 - c))
        assert maps.activation[:, j].tolist() == [float(act)] * 3
        for i in range(3):
            assert float(maps.probability[i, j]) == pytest.approx(1 / (1 + math.exp(-2 * act / 64)), abs=1e-12)
    assert maps.predicted.eq(0).all() and maps.channel == 0
    assert maps.base_activation == 96.0


def test_maps_equal_per_image_brute_force() -> None:
    torch.manual_seed(0)
    net = small_vgg(4, width=2).eval()
    image = torch.rand(3, 20, 20)
    maps = occlusion_sensitivity(net, image, label=2, layer="features.5", size=6, stride=5, fill=0.5, batch_size=3)
    assert maps.rows.tolist() == [0, 5, 10, 14]
    with torch.no_grad():
        feats = net.features[:6](image[None])
        channel = int(feats[0].flatten(1).amax(1).argmax())
        for i, r in enumerate(maps.rows.tolist()):
            for j, c in enumerate(maps.cols.tolist()):
                occluded = image.clone()
                occluded[:, r : r + 6, c : c + 6] = 0.5
                logits = net(occluded[None])
                assert float(maps.probability[i, j]) == pytest.approx(float(logits.softmax(1)[0, 2]), abs=1e-6)
                assert float(maps.activation[i, j]) == pytest.approx(float(net.features[:6](occluded[None])[0, channel].sum()), rel=1e-5)
                assert int(maps.predicted[i, j]) == int(logits.argmax())
    assert maps.channel == channel


def test_bad_square_is_an_option_error() -> None:
    with pytest.raises(OptionError, match="--size"):
        square_positions(10, size=11, stride=1)


def test_on_object_summary_by_hand() -> None:
    # squares of 4 px at top-left rows/cols 0, 4, 8: centres 1.5, 5.5, 9.5. The box x 4..7, y 0..11
    # (x=4, y=0, w=4, h=12) holds the centres of column 1 only: 3 of 9 positions on the object.
    prob = torch.tensor([[0.9, 0.2, 0.8], [0.9, 0.4, 0.7], [0.6, 0.3, 0.9]], dtype=torch.float64)
    maps = OcclusionMaps(label=0, channel=0, probability=prob, activation=torch.zeros(3, 3),
                         predicted=torch.zeros(3, 3, dtype=torch.long), rows=torch.tensor([0, 4, 8]),
                         cols=torch.tensor([0, 4, 8]), base_probability=1.0, base_activation=0.0,
                         base_predicted=0)  # fmt: skip
    got = on_object_summary(maps, bbox=(4.0, 0.0, 4.0, 12.0), size=4)
    assert got["on_share"] == pytest.approx(3 / 9) and got["worst_on"] == 1.0
    assert got["drop_on"] == pytest.approx(1 - 0.3) and got["drop_off"] == pytest.approx(1 - 4.8 / 6)
    got = on_object_summary(maps, bbox=(0.0, 8.0, 12.0, 4.0), size=4)  # bottom row: its minimum 0.3 is not the worst
    assert got["worst_on"] == 0.0 and got["on_share"] == pytest.approx(3 / 9)
    empty = on_object_summary(maps, bbox=(100.0, 100.0, 1.0, 1.0), size=4)
    assert empty["on_share"] == 0.0 and math.isnan(empty["drop_on"])
