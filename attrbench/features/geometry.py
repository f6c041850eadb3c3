"""Receptive-field geometry of a layer in the form the feature tools use: per-axis size, stride
and offset, the layer's grid, each unit's box and centre.

The geometry itself has one implementation, :func:`attrbench.geometry.layer_geometry`, derived
from the module graph (conv/pool kernel, stride, padding and dilation composed in a forward pass;
residual sums as the union of their terms), so it holds for any CNN (VGG, ResNet, BagNet). Unit
(i, j) then sees input rows ``offset + stride * i ... + size - 1`` (same for columns); ``offset``
can be negative (padding), boxes are clipped only when cropping.

Shapes: boxes and centres in input pixels, (row, col) order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attrbench.errors import OptionError
from attrbench.geometry import layer_geometry_and_grid
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


def layer_geometry(model: nn.Module, *, layer: str, input_size: tuple[int, int]) -> LayerGeometry:
    """The receptive field of ``layer``'s units and its grid (see the module docstring).

    Args:
        model: takes (B, 3, H, W) inputs (one probe forward of a zero image, no gradients).
        layer: submodule name, e.g. ``"net.features.6"`` (unknown names suggest close ones).
        input_size: the model's input (H, W); gives ``grid``.

    Raises:
        OptionError: unknown layer, or its geometry cannot be derived from the module graph.
    """
    find_layer(model, layer)
    try:
        g, grid = layer_geometry_and_grid(model, layer, input_size=tuple(input_size))  # type: ignore[arg-type]
    except ValueError as exc:
        raise OptionError(f"layer {layer!r}: {exc}") from exc
    return LayerGeometry(size=(g.size, g.size), stride=(g.stride, g.stride), offset=(g.offset, g.offset), grid=grid)
