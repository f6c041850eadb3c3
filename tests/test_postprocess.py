"""PostProcess: each named step by hand on tiny tensors; presets; resize by resolution."""

from __future__ import annotations

import pytest
import torch

from attrbench.api import MethodInfo, Resolution
from attrbench.ground_truth import patches_to_pixels
from attrbench.models.bagnet import ReceptiveField
from attrbench.postprocess import PRESETS, PostProcess, get_preset
from attrbench.registry import UnknownNameError

EXACT = {"rtol": 0, "atol": 1e-12}
RAW = torch.tensor([[[[1.0, -2.0]], [[-3.0, 1.0]], [[0.0, 2.0]]]], dtype=torch.float64)  # (1, 3, 1, 2)


@pytest.mark.parametrize(
    ("reduce", "expected"),
    [
        ("sum", [-2.0, 1.0]),
        ("abs_sum", [2.0, 1.0]),
        ("sum_abs", [4.0, 5.0]),
        ("l2", [10.0**0.5, 3.0]),
        ("max_abs", [3.0, 2.0]),
    ],
)
def test_channel_reductions(reduce, expected):
    out = PostProcess(reduce=reduce).reduce_map(RAW)
    assert out.shape == (1, 1, 1, 2)
    torch.testing.assert_close(out.flatten(), torch.tensor(expected, dtype=torch.float64), **EXACT)


def test_relu_then_normalisations():
    m = torch.tensor([[[[-1.0, 0.0], [1.0, 3.0]]]], dtype=torch.float64)
    flat = lambda p: p.reduce_map(m).flatten().tolist()  # noqa: E731
    assert flat(PostProcess(relu=True)) == [0.0, 0.0, 1.0, 3.0]
    torch.testing.assert_close(
        PostProcess(normalise="minmax", eps=1e-12).reduce_map(m).flatten(),
        torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64),
        **EXACT,
    )
    torch.testing.assert_close(
        PostProcess(relu=True, normalise="max_abs", eps=1e-12).reduce_map(m).flatten(),
        torch.tensor([0.0, 0.0, 1 / 3, 1.0], dtype=torch.float64),
        **EXACT,
    )
    torch.testing.assert_close(
        PostProcess(normalise="sum", eps=1e-12).reduce_map(m).flatten(),
        torch.tensor([-0.2, 0.0, 0.2, 0.6], dtype=torch.float64),
        **EXACT,
    )


def test_normalisation_is_per_sample():
    m = torch.stack([torch.full((1, 2, 2), 2.0), torch.arange(4.0).view(1, 2, 2)]).double()
    m[0, 0, 0, 0] = 0.0
    out = PostProcess(normalise="minmax", eps=1e-12).reduce_map(m)
    torch.testing.assert_close(out[0].flatten(), torch.tensor([0.0, 1.0, 1.0, 1.0], dtype=torch.float64), **EXACT)
    torch.testing.assert_close(out[1].flatten(), torch.tensor([0.0, 1 / 3, 2 / 3, 1.0], dtype=torch.float64), **EXACT)


@pytest.mark.parametrize("normalise", ["minmax", "max_abs", "sum"])
def test_constant_and_zero_maps_do_not_give_nan(normalise):
    for value in (0.0, 5.0):
        out = PostProcess(normalise=normalise).reduce_map(torch.full((2, 1, 3, 3), value))
        assert torch.isfinite(out).all()
    # min-max of a constant map is 0 everywhere (numerator 0, denominator eps)
    assert PostProcess(normalise="minmax").reduce_map(torch.full((1, 1, 2, 2), 5.0)).abs().max() == 0


def test_resize_by_resolution():
    p = PostProcess(upsample="nearest")
    layer_info = MethodInfo(name="cam", paper="", resolution=Resolution.LAYER)
    layer = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    out = p(layer, size=(4, 4), info=layer_info)
    torch.testing.assert_close(out, layer.repeat_interleave(2, -1).repeat_interleave(2, -2), **EXACT)
    # bilinear (align_corners=False) keeps the mean of a 2x2 map when doubling it
    bil = PostProcess()(layer, size=(4, 4), info=layer_info)
    assert bil.shape == (1, 1, 4, 4)
    torch.testing.assert_close(bil.mean(), layer.mean(), **EXACT)
    # patch maps are spread over their receptive fields, preserving the total
    rf = ReceptiveField(size=9, stride=8)
    grid = torch.arange(9.0, dtype=torch.float64).view(1, 1, 3, 3)
    patch_info = MethodInfo(name="oracle", paper="", resolution=Resolution.PATCH)
    spread = PostProcess()(grid, size=(32, 32), info=patch_info, rf=rf)
    torch.testing.assert_close(spread, patches_to_pixels(grid[:, 0], rf=rf, size=(32, 32)), **EXACT)
    torch.testing.assert_close(spread.sum(), grid.sum(), **EXACT)
    with pytest.raises(ValueError, match="receptive field"):
        PostProcess()(grid, size=(32, 32), info=patch_info)
    # input-resolution maps are not resized; a wrong size is an error
    input_info = MethodInfo(name="ig", paper="")
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(PostProcess()(x, size=(8, 8), info=input_info), x.sum(1, keepdim=True))
    with pytest.raises(ValueError, match="input resolution"):
        PostProcess()(x, size=(16, 16), info=input_info)


def test_presets_and_round_trip():
    assert get_preset("raw") == PostProcess() == PRESETS["captum"]
    assert PRESETS["pytorch-grad-cam"] == PostProcess(relu=True, normalise="minmax", eps=1e-7)
    assert PRESETS["torchcam"] == PostProcess(relu=True, normalise="minmax", eps=1e-8)
    for preset in PRESETS.values():
        assert PostProcess.from_dict(preset.as_dict()) == preset
    with pytest.raises(UnknownNameError, match="Did you mean 'torchcam'"):
        get_preset("torch-cam")
    with pytest.raises(ValueError, match="unknown post-processing keys"):
        PostProcess.from_dict({"reduce": "sum", "relu_": True})


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"reduce": "mean"}, ValueError), ({"normalise": "z"}, ValueError), ({"upsample": "bicubic"}, ValueError),
     ({"relu": 1}, TypeError), ({"eps": 0.0}, ValueError)],
)
def test_invalid_options(kwargs, error):
    with pytest.raises(error):
        PostProcess(**kwargs)


def test_pytorch_grad_cam_preset_formula():
    # pytorch-grad-cam scale_cam_image: relu'd cam, (cam - min) / (1e-7 + max) after subtracting min
    cam = torch.tensor([[[[-1.0, 2.0], [4.0, 0.5]]]], dtype=torch.float64)
    r = cam.clamp_min(0)
    expected = (r - r.min()) / (1e-7 + (r - r.min()).max())
    torch.testing.assert_close(PRESETS["pytorch-grad-cam"].reduce_map(cam), expected, **EXACT)
