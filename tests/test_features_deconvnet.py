"""Deconvnet projections against hand-computed ones, receptive fields in closed form, and the
top-k selection against a brute-force search."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from attrbench.errors import OptionError
from attrbench.features.deconvnet import deconvnet_relus, project_activation
from attrbench.features.geometry import layer_geometry
from attrbench.features.topk import top_activations, top_of_maps
from attrbench.hooks import hooks_of
from attrbench.models.comparison import small_vgg
from attrbench.testing.models import tiny_bagnet


def _conv(cin: int, cout: int, weight: list, *, kernel: int = 1, stride: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, kernel_size=kernel, stride=stride, bias=False)
    conv.weight.data = torch.tensor(weight, dtype=torch.float64).reshape(conv.weight.shape)
    return conv.double()


def test_backward_relu_passes_positive_signal_where_the_forward_was_inactive() -> None:
    # x = 5 -> conv1 [1, -1] -> [5, -5] -> ReLU [5, 0] -> conv2 [2, 3] -> 10 (the activation).
    # Deconvnet from 10: conv2^T -> [20, 30] -> ReLU -> [20, 30] -> conv1^T -> 1*20 - 1*30 = -10.
    # (The gradient would be 10 * 2 * 1 = 20: the inactive unit blocks it.)
    net = nn.Sequential(_conv(1, 2, [1.0, -1.0]), nn.ReLU(), _conv(2, 1, [2.0, 3.0]))
    out = project_activation(net, torch.full((1, 1, 1, 1), 5.0, dtype=torch.float64), layer="2", channels=0)
    assert out.values.tolist() == [10.0]
    assert out.pixels.flatten().tolist() == [-10.0]
    assert hooks_of(net) == {}


def test_switch_unpooling_and_backward_relu_by_hand() -> None:
    # x = [[-1, -4], [-2, 5]] -> conv1 (w = -1) -> [[1, 4], [2, -5]] -> ReLU -> [[1, 4], [2, 0]]
    # -> maxpool 2x2 -> 4 (switch at (0, 1)) -> conv2 (w = 3) -> 12.
    # Deconvnet from 12: x3 -> 36 -> unpool to (0, 1) -> ReLU -> 36 -> x(-1) -> -36 at (0, 1).
    net = nn.Sequential(_conv(1, 1, [-1.0]), nn.ReLU(), nn.MaxPool2d(2), _conv(1, 1, [3.0]))
    x = torch.tensor([[[[-1.0, -4.0], [-2.0, 5.0]]]], dtype=torch.float64)
    out = project_activation(net, x, layer="3", channels=0)
    assert out.values.tolist() == [12.0]
    assert out.pixels[0, 0].tolist() == [[0.0, -36.0], [0.0, 0.0]]


def test_strided_convolution_is_inverted_by_the_transposed_strided_convolution() -> None:
    # conv 2x2, stride 2 on 4x4: unit (1, 0) sees rows 2-3, cols 0-1; its projection is v * W there.
    net = nn.Sequential(_conv(1, 1, [[1.0, 2.0], [3.0, 4.0]], kernel=2, stride=2))
    x = torch.arange(16, dtype=torch.float64).reshape(1, 1, 4, 4)
    v = 1 * 8 + 2 * 9 + 3 * 12 + 4 * 13  # the activation at (1, 0)
    out = project_activation(net, x, layer="0", channels=0, positions=torch.tensor([[1, 0]]))
    expected = torch.zeros(4, 4, dtype=torch.float64)
    expected[2:4, 0:2] = v * torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert out.values.tolist() == [float(v)]
    torch.testing.assert_close(out.pixels[0, 0], expected, rtol=0, atol=0)


def _reference_projection(net: nn.Sequential, x: np.ndarray, channel: int) -> np.ndarray:
    """Brute force in numpy loops: conv(k=3, pad=1) -> ReLU -> maxpool 2 -> conv(k=3, pad=1); top unit."""
    w1, w2 = net[0].weight.detach().numpy(), net[3].weight.detach().numpy()
    c1, cin, h, w = w1.shape[0], x.shape[0], x.shape[1], x.shape[2]

    def conv(inp: np.ndarray, weight: np.ndarray) -> np.ndarray:
        pad = np.pad(inp, ((0, 0), (1, 1), (1, 1)))
        out = np.zeros((weight.shape[0], inp.shape[1], inp.shape[2]))
        for o in range(weight.shape[0]):
            for i in range(inp.shape[1]):
                for j in range(inp.shape[2]):
                    out[o, i, j] = (pad[:, i : i + 3, j : j + 3] * weight[o]).sum()
        return out

    def conv_t(sig: np.ndarray, weight: np.ndarray) -> np.ndarray:
        pad = np.zeros((weight.shape[1], sig.shape[1] + 2, sig.shape[2] + 2))
        for o in range(weight.shape[0]):
            for i in range(sig.shape[1]):
                for j in range(sig.shape[2]):
                    pad[:, i : i + 3, j : j + 3] += sig[o, i, j] * weight[o]
        return pad[:, 1:-1, 1:-1]

    a1 = np.maximum(conv(x, w1), 0)
    pooled, switch = np.zeros((c1, h // 2, w // 2)), {}
    for c in range(c1):
        for i in range(h // 2):
            for j in range(w // 2):
                win = a1[c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                r, s = np.unravel_index(np.argmax(win), (2, 2))
                pooled[c, i, j], switch[c, i, j] = win[r, s], (2 * i + r, 2 * j + s)
    a2 = conv(pooled, w2)
    i, j = np.unravel_index(np.argmax(a2[channel]), a2[channel].shape)
    sig = np.zeros_like(a2)
    sig[channel, i, j] = a2[channel, i, j]
    back = conv_t(sig, w2)
    unpooled = np.zeros_like(a1)
    for (c, pi, pj), (r, s) in switch.items():
        unpooled[c, r, s] = back[c, pi, pj]
    return conv_t(np.maximum(unpooled, 0), w1)


def test_projection_equals_a_loop_implementation_of_the_deconvnet() -> None:
    gen = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 5, 3, padding=1, bias=False)).double()  # fmt: skip
    for p in net.parameters():
        p.data = torch.randn(p.shape, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64)
    out = project_activation(net, x, layer="3", channels=torch.tensor([1, 4]))
    for b, channel in enumerate((1, 4)):
        expected = _reference_projection(net, x[b].numpy(), channel)
        np.testing.assert_allclose(out.pixels[b].numpy(), expected, rtol=1e-12, atol=1e-12)


def test_inplace_relu_is_refused() -> None:
    net = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(inplace=True))
    with pytest.raises(OptionError, match="in-place"), deconvnet_relus(net):
        pass
    assert hooks_of(net) == {}


def test_receptive_fields_in_closed_form() -> None:
    # BagNet-q: q x q patches at stride 8 starting at pixel 0 (docs/bagnet.md).
    for q in (9, 17):
        geo = layer_geometry(tiny_bagnet(q, input_size=(48, 48)), layer="net.layer4", input_size=(48, 48))
        assert (geo.size, geo.stride, geo.offset) == ((q, q), (8, 8), (0, 0))
        assert geo.grid == ((48 - q) // 8 + 1,) * 2
    # SmallVGG, 2 convs per stage (3x3, pad 1) then 2x2 pooling. Unit 0 of stage 2's second conv sees
    # pooled units -2..2, i.e. stage-1 rows -4..5, i.e. input rows -6..7: 14 px at stride 2,
    # offset -6 (padding); its centre -6 + 6.5 = 0.5 is the centre of input rows 0..1.
    vgg = small_vgg(3, width=2)
    geo = layer_geometry(vgg, layer="features.11", input_size=(32, 32))
    assert (geo.size, geo.stride, geo.offset, geo.grid) == ((14, 14), (2, 2), (-6, -6), (16, 16))


def _brute_force_topk(maps: torch.Tensor, channel: int, k: int) -> list[tuple[float, int, int, int]]:
    entries = []
    for n in range(maps.shape[0]):
        best = None
        for i in range(maps.shape[2]):
            for j in range(maps.shape[3]):
                v = float(maps[n, channel, i, j])
                if best is None or v > best[0]:
                    best = (v, n, i, j)
        entries.append(best)
    return sorted(entries, key=lambda e: (-e[0], e[1]))[:k]


def test_top9_equals_brute_force_search_with_ties() -> None:
    gen = torch.Generator().manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
    images = torch.rand(23, 3, 10, 10, generator=gen)
    images[7] = images[2]  # exact ties between images 2 and 7, 11 and 19
    images[19] = images[11]
    images[5] = 0.0  # a constant image: ties between positions
    batches = [(torch.arange(s, min(s + 5, 23)), images[s : s + 5]) for s in range(0, 23, 5)]
    top = top_activations(net, batches, layer="2", channels=[3, 0, 1], k=9)
    with torch.no_grad():
        maps = net(images)
    for row, channel in enumerate((3, 0, 1)):
        expected = _brute_force_topk(maps, channel, 9)
        got = list(zip(top.values[row].tolist(), top.images[row].tolist(), *top.positions[row].T.tolist()))
        assert [(n, i, j) for _, n, i, j in got] == [(n, i, j) for _, n, i, j in expected]
        np.testing.assert_allclose([v for v, *_ in got], [v for v, *_ in expected], rtol=0, atol=0)
    with pytest.raises(OptionError, match="out of range"):
        top_activations(net, batches, layer="2", channels=[4])
    # the same search from maps recorded once for all images (how the results study runs it)
    once = top_of_maps([(torch.arange(23), maps)], layer="2", channels=[3, 0, 1], k=9)
    for a, b in zip((top.values, top.images, top.positions), (once.values, once.images, once.positions)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
