"""Localisation metrics on 4x4 maps and masks built by construction (exact values)."""

from __future__ import annotations

import math

import torch

from attrbench.metrics.localisation import Localisation, box_masks
from attrbench.testing.toys import make_context

A = torch.tensor(
    [[4.0, 3.0, -1.0, 0.0], [2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [-2.0, 0.0, 0.0, 0.0]], dtype=torch.float64
)


def _ctx(maps, masks, bboxes=None):
    b = maps.shape[0]
    return make_context(
        model=torch.nn.Identity(), images=torch.zeros(b, 3, 4, 4, dtype=torch.float64),
        labels=torch.zeros(b, dtype=torch.long), maps=maps, masks=masks, bboxes=bboxes,
    )  # fmt: skip


def test_values_by_hand() -> None:
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    mask[0, 0, :2] = 0.7  # soft mask >= 0.5: rows 0-1 are the object
    mask[0, 0, 2:] = 0.49  # below the threshold: background
    maps = torch.stack([A, A]).unsqueeze(1)
    boxes = torch.tensor([[1.0, 0.0, 1.5, 1.0], [0.0, 0.0, 4.0, 4.0]])
    res = Localisation().compute(_ctx(maps, mask, boxes))
    v = res.values
    # max 4 at (0,0) is inside
    assert v["loc_pointing_game"][0].item() == 1.0
    # positive energy 4+3+2+1 = 10, inside rows 0-1: 9
    assert v["loc_energy_mask"][0].item() == 0.9
    # box x in [1, 2.5) -> cols 1, 2; y in [0, 1) -> row 0: pixels 3, -1 -> 3 / 10
    assert v["loc_energy_box"][0].item() == 0.3
    # top-8 (stable): 4, 3, 2, 1 (idx 0, 1, 4, 9) then zeros idx 3, 5, 6, 7 -> 7 in the mask of 8 -> 7 / 9
    assert v["loc_iou_top"][0].item() == 7 / 9
    pos = A[:2].flatten()
    neg = A[2:].flatten()
    pairs = [(1.0 if p > q else 0.5 if p == q else 0.0) for p in pos for q in neg]
    assert math.isclose(v["loc_auroc"][0].item(), sum(pairs) / len(pairs), rel_tol=0, abs_tol=1e-15)
    # sample 1: empty mask -> NaN (neither hit nor miss) for pointing game, energy, IoU, AUROC; box = whole image -> 1
    assert math.isnan(v["loc_pointing_game"][1].item())
    assert math.isnan(v["loc_iou_top"][1].item())
    assert math.isnan(v["loc_auroc"][1].item())
    assert math.isnan(v["loc_energy_mask"][1].item())
    assert "empty object mask" in res.reasons["loc_energy_mask"]
    assert v["loc_energy_box"][1].item() == 1.0


def test_fixed_top_percent_and_no_boxes() -> None:
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    mask[0, 0, :2] = 1.0
    metric = Localisation(top_percent=25)  # top 4 pixels: idx 0, 1, 4, 9; 3 in the mask -> 3 / (4 + 8 - 3)
    res = metric.compute(_ctx(A.view(1, 1, 4, 4), mask))
    assert res.values["loc_iou_top"][0].item() == 3 / 9
    assert "loc_energy_box" not in res.values
    batch = make_context(model=torch.nn.Identity(), images=torch.zeros(1, 3, 4, 4), labels=torch.zeros(1, dtype=torch.long),
                         maps=A.view(1, 1, 4, 4), masks=mask).batch  # fmt: skip
    assert set(metric.value_names(model=None, batch=batch)) == set(res.values)  # type: ignore[arg-type]


def test_pointing_game_miss_and_no_positive_energy() -> None:
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    mask[0, 0, 3, 3] = 1.0
    res = Localisation().compute(_ctx(-A.abs().view(1, 1, 4, 4), mask))
    assert res.values["loc_pointing_game"][0].item() == 0.0  # max 0 first at (0, 3), outside
    assert math.isnan(res.values["loc_energy_mask"][0].item())


def test_box_masks() -> None:
    m = box_masks(torch.tensor([[0.5, 1.0, 1.0, 2.0]]), size=(4, 4))
    expected = torch.zeros(1, 4, 4, dtype=torch.bool)
    expected[0, 1:3, 0:2] = True
    assert torch.equal(m, expected)
