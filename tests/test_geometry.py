"""Receptive-field geometry from the module graph, placement and coverage."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench.geometry import (
    Geometry,
    coverage_fraction,
    coverage_mask,
    layer_geometry,
    method_geometry,
    model_coverage,
    model_coverage_fraction,
    place,
)
from attrbench.ground_truth import patches_to_pixels
from attrbench.models.bagnet import BAGNET_KERNEL3, ReceptiveField
from attrbench.testing.models import tiny_bagnet


@pytest.mark.parametrize("q", sorted(BAGNET_KERNEL3))
def test_bagnet_layers_compose_in_closed_form(q: int) -> None:
    model = tiny_bagnet(q, input_size=(64, 64))
    size, jump = 3, 1  # stem: 1x1 then 3x3, stride 1
    for stage, (has3, stride) in enumerate(zip(BAGNET_KERNEL3[q], (2, 2, 2, 1)), start=1):
        size += 2 * jump if has3 else 0
        jump *= stride
        got = layer_geometry(model, f"net.layer{stage}", input_size=(64, 64))
        assert got == Geometry(size=size, stride=jump, offset=0)
    assert got == Geometry.of(ReceptiveField(q))


def _ones_net() -> nn.Sequential:
    net = nn.Sequential(
        nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False),
        nn.AvgPool2d(2),
        nn.Conv2d(1, 1, 5, padding=2, bias=False),
    )  # fmt: skip
    for m in net:
        if isinstance(m, nn.Conv2d):
            m.weight.data.fill_(1.0)
    return net.double()


class _Probe(nn.Module):
    """Takes 3-channel images like an ImageModel, keeps one channel."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _ones_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x[:, :1])


def test_padded_cnn_geometry_matches_gradient_support() -> None:
    """All-ones weights and positive inputs: an output's input-gradient support is exactly its box."""
    probe = _Probe()
    g = layer_geometry(probe, "body.4", input_size=(32, 32))
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64, requires_grad=True)
    out = probe(x)
    for i, j in [(0, 0), (3, 5), (7, 7)]:
        (grad,) = torch.autograd.grad(out[0, 0, i, j], x, retain_graph=True)
        rows = torch.nonzero(grad[0, 0].abs().sum(1)).flatten()
        cols = torch.nonzero(grad[0, 0].abs().sum(0)).flatten()
        r0, c0 = g.offset + g.stride * i, g.offset + g.stride * j
        assert rows.min() == max(r0, 0) and rows.max() == min(r0 + g.size - 1, 31)
        assert cols.min() == max(c0, 0) and cols.max() == min(c0 + g.size - 1, 31)


def test_place_is_patches_to_pixels_for_bagnets_and_clips_padding() -> None:
    rf = ReceptiveField(17)
    grid = torch.randn(2, *rf.grid(96, 96), dtype=torch.float64)
    assert torch.equal(place(grid.unsqueeze(1), geometry=Geometry.of(rf), size=(96, 96)), patches_to_pixels(grid, rf=rf, size=(96, 96)))
    # one position seeing rows/cols -1..1 of a 2 x 2 image: 4 of its 9 pixels are inside
    one = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    out = place(one, geometry=Geometry(size=3, stride=1, offset=-1), size=(2, 2))
    assert torch.equal(out, torch.full((1, 1, 2, 2), 1 / 9, dtype=torch.float64))


def test_coverage_of_a_bagnet_border() -> None:
    rf, size = ReceptiveField(17), (96, 96)
    h = rf.grid(*size)[0]
    seen_rows = rf.stride * (h - 1) + rf.size  # rows 0 .. 8(H'-1) + q - 1
    mask = coverage_mask(geometry=Geometry.of(rf), grid=rf.grid(*size), size=size)
    assert mask.shape == (1, 1, *size)
    assert bool(mask[0, 0, :seen_rows, :seen_rows].all()) and not bool(mask[0, 0, seen_rows:].any())
    assert coverage_fraction(geometry=Geometry.of(rf), grid=rf.grid(*size), size=size) == pytest.approx(seen_rows**2 / 96**2, rel=1e-15)
    tiled = (rf.size + 8 * 9, rf.size + 8 * 9)  # size = q + 8k tiles the image
    assert coverage_fraction(geometry=Geometry.of(rf), grid=rf.grid(*tiled), size=tiled) == 1.0


def test_postprocess_places_layer_maps_by_geometry() -> None:
    from attrbench.api import MethodInfo, Resolution
    from attrbench.postprocess import PostProcess

    layer = MethodInfo(name="cam", paper="test stand-in", resolution=Resolution.LAYER)
    patch = MethodInfo(name="patch", paper="test stand-in", resolution=Resolution.PATCH)
    rf, size = ReceptiveField(33), (96, 96)
    model = tiny_bagnet(33, input_size=size)
    g3 = layer_geometry(model, "net.layer3", input_size=size)  # q = 33: layer3 is finer than the patch grid
    raw3 = torch.randn(2, 1, *g3.grid(*size), dtype=torch.float64)
    assert torch.equal(PostProcess()(raw3, size=size, info=layer, rf=rf, geometry=g3), place(raw3, geometry=g3, size=size))
    raw4 = torch.randn(2, 1, *rf.grid(*size), dtype=torch.float64)  # on the patch grid: same pixels as a patch map
    assert torch.equal(PostProcess()(raw4, size=size, info=layer, rf=rf), PostProcess()(raw4, size=size, info=patch, rf=rf))
    stretched = PostProcess(upsample="bilinear")(raw4, size=size, info=layer, rf=rf)
    assert not torch.equal(stretched, PostProcess()(raw4, size=size, info=patch, rf=rf))


def test_model_coverage_and_method_geometry() -> None:
    from attrbench.methods.gradcam import GradCam
    from attrbench.methods.saliency import Saliency

    size = (40, 40)
    model = tiny_bagnet(17, input_size=size)
    seen = ReceptiveField(17).stride * (ReceptiveField(17).grid(*size)[0] - 1) + 17  # 33 rows
    assert model_coverage_fraction(model, size=size) == pytest.approx(seen**2 / 40**2, rel=1e-15)
    cam = GradCam(model, spec=model.spec, layer="net.layer2")
    assert method_geometry(model, cam, size=size) == layer_geometry(model, "net.layer2", input_size=size)
    assert method_geometry(model, Saliency(model, spec=model.spec), size=size) is None  # no layer
    plain = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1))
    assert bool(model_coverage(plain, size=size).all())


def test_centre_placement_lands_on_the_receptive_field_centre() -> None:
    from attrbench.api import MethodInfo, Resolution
    from attrbench.postprocess import PostProcess

    g = Geometry(size=23, stride=4, offset=-10)  # the padded CNN above: centre of i at 4i + 1
    raw = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    raw[0, 0, 3, 5] = 16.0
    layer = MethodInfo(name="cam", paper="test stand-in", resolution=Resolution.LAYER)
    out = PostProcess(upsample="centre")(raw, size=(32, 32), info=layer, geometry=g)
    rows = torch.nonzero(out[0, 0].sum(1)).flatten()
    cols = torch.nonzero(out[0, 0].sum(0)).flatten()
    assert rows.tolist() == list(range(4 * 3 - 10 + (23 - 4) // 2, 4 * 3 - 10 + (23 - 4) // 2 + 4))
    assert cols.tolist() == list(range(4 * 5 - 10 + (23 - 4) // 2, 4 * 5 - 10 + (23 - 4) // 2 + 4))
    assert out.sum() == 16.0  # value / stride^2 on stride^2 pixels
    rf = ReceptiveField(9)
    grid = torch.randn(1, 1, *rf.grid(48, 48), dtype=torch.float64)
    patch = MethodInfo(name="patch", paper="test stand-in", resolution=Resolution.PATCH)
    pp = PostProcess(upsample="centre")
    assert torch.equal(pp(grid, size=(48, 48), info=layer, rf=rf), pp(grid, size=(48, 48), info=patch, rf=rf))
