"""Receptive-field geometry of a layer: which input pixels a unit of a feature map sees.

Measured, not derived by hand, so that it holds for any CNN (VGG, ResNet, BagNet): a float64 copy
of the model is made linear and positive (every convolution and linear weight set to 1,
BatchNorm to the identity, ReLU to the identity, max-pooling to average pooling with the same
window), so the gradient of one unit with respect to the input is strictly positive exactly on
the unit's receptive field. Two neighbouring units give the stride; the box of the unit at
(i, j) is then ``offset + stride * (i, j)`` with the measured size. The probe input is larger than
the model's input (``probe_scale``, 2) so that the measured unit is not clipped by the image border (doubled until it is not);
``offset`` can be negative (padding), boxes are clipped only when cropping.

Shapes: boxes and centres in input pixels, (row, col) order.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attrbench.errors import OptionError
from attrbench.hooks import capture_output

__all__ = ["LayerGeometry", "find_layer", "layer_geometry", "layer_output", "one_output"]


@dataclass(frozen=True)
class LayerGeometry:
    """Receptive field of the units of one layer.

    Attributes:
        size: (height, width) of a unit's receptive field in input pixels.
        stride: (row, col) pixel step between neighbouring units.
        offset: input (row, col) of the top-left pixel of unit (0, 0)'s field (negative with padding).
        grid: (H', W') of the layer for the model's input size.
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[int, int]
    grid: tuple[int, int]

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """Unclipped pixel box (row0, row1, col0, col1), end-exclusive, of unit (i, j)."""
        r0 = self.offset[0] + self.stride[0] * i
        c0 = self.offset[1] + self.stride[1] * j
        return r0, r0 + self.size[0], c0, c0 + self.size[1]

    def centres(self) -> Tensor:
        """(H' * W', 2) float64 pixel (row, col) centres of all units, row-major."""
        rows = self.offset[0] + self.stride[0] * torch.arange(self.grid[0], dtype=torch.float64) + (self.size[0] - 1) / 2
        cols = self.offset[1] + self.stride[1] * torch.arange(self.grid[1], dtype=torch.float64) + (self.size[1] - 1) / 2
        return torch.cartesian_prod(rows, cols)


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (as in ``model.named_modules()``), with a did-you-mean error."""
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return modules[name]
    import difflib

    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; layers: {', '.join(names[:12])} ..."
    raise OptionError(f"--layer {name!r} is not a module of the model{hint}")


def layer_output(model: nn.Module, inputs: Tensor, *, layer: str) -> Tensor:
    """Output (B, C, H', W') of ``layer`` for ``inputs`` (one forward, no gradient bookkeeping change).

    Raises:
        OptionError: the layer is not a 4-d feature map or is called more than once per forward.
    """
    with capture_output(find_layer(model, layer)) as store:
        model(inputs)
    return one_output(store, layer)


def one_output(store: list[Tensor], layer: str) -> Tensor:
    """The single (B, C, H, W) output a layer gave in one forward (a checked ``capture_output`` result)."""
    if len(store) != 1:
        raise OptionError(f"layer {layer!r} ran {len(store)} times in one forward; choose a layer used once")
    if store[0].dim() != 4:
        raise OptionError(f"layer {layer!r} gives a {store[0].dim()}-d output, not a (B, C, H, W) feature map")
    return store[0]


@contextmanager
def _linear_positive(model: nn.Module) -> Iterator[None]:
    """Make ``model`` (a throw-away copy) linear with positive weights; hooks removed on exit."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.data.fill_(1.0)
            if m.bias is not None:
                m.bias.data.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()  # running stats 0 / 1, affine 1 / 0: the identity in eval mode
    with ExitStack() as stack:
        for m in model.modules():
            if isinstance(m, nn.ReLU):
                handle = m.register_forward_hook(lambda _m, inputs, _out: inputs[0])
                stack.callback(handle.remove)
            elif isinstance(m, nn.MaxPool2d):
                pool = (m.kernel_size, m.stride, m.padding)
                hook = lambda _m, inputs, _out, p=pool: F.avg_pool2d(inputs[0], p[0], p[1], p[2])  # noqa: E731
                handle = m.register_forward_hook(hook)
                stack.callback(handle.remove)
        yield


def layer_geometry(
    model: nn.Module, *, layer: str, input_size: tuple[int, int], probe_scale: int = 2
) -> LayerGeometry:
    """Measure the receptive field of ``layer`` (see the module docstring).

    Args:
        model: takes (B, 3, H, W) inputs; it is not modified (a float64 copy is probed).
        layer: submodule name, e.g. ``"net.features.6"``.
        input_size: the model's input (H, W); gives ``grid``.
        probe_scale: the probe input is ``probe_scale`` times the input size (at least 64 px).
    """
    probe = copy.deepcopy(model).to(torch.float64).eval()
    device = next(probe.parameters()).device
    h, w = input_size
    with torch.no_grad():
        grid = tuple(layer_output(probe, torch.zeros(1, 3, h, w, dtype=torch.float64, device=device), layer=layer).shape[-2:])
    ph, pw = max(h * probe_scale, 64), max(w * probe_scale, 64)
    x = torch.ones(1, 3, ph, pw, dtype=torch.float64, device=device, requires_grad=True)
    boxes = []
    with torch.enable_grad():  # callers may run under no_grad
        with _linear_positive(probe), capture_output(find_layer(probe, layer)) as store:
            probe(x)
        act = one_output(store, layer)
        i0, j0 = act.shape[-2] // 2, act.shape[-1] // 2
        for di, dj in ((0, 0), (1, 1)):
            (g,) = torch.autograd.grad(act[0, 0, i0 + di, j0 + dj], x, retain_graph=True)
            support = g[0].sum(0) > 0
            rows = torch.nonzero(support.any(1)).flatten()
            cols = torch.nonzero(support.any(0)).flatten()
            boxes.append((int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1))
    if any(b[0] == 0 or b[1] == ph or b[2] == 0 or b[3] == pw for b in boxes):
        if probe_scale >= 16:
            raise OptionError(f"layer {layer!r}: the receptive field exceeds a probe of {ph} x {pw} px")
        return layer_geometry(model, layer=layer, input_size=input_size, probe_scale=2 * probe_scale)
    (r0, r1, c0, c1), (r0b, _, c0b, _) = boxes
    stride = (r0b - r0, c0b - c0)
    return LayerGeometry(
        size=(r1 - r0, c1 - c0), stride=stride, offset=(r0 - stride[0] * i0, c0 - stride[1] * j0), grid=grid  # type: ignore[arg-type]
    )
