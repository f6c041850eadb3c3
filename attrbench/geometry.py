"""Receptive-field geometry of a layer: where each output position looks in the input.

Along each axis, position i of a layer sees input rows [offset + stride * i, offset + stride * i +
size - 1] (clipped to the image). Composing a convolution or pooling layer with kernel k, stride s,
padding p and dilation d onto the geometry (size, stride, offset) of its input gives

    size' = size + (k - 1) * d * stride,   stride' = stride * s,   offset' = offset - p * stride

(Araujo et al., Distill 2019, "Computing receptive fields of convolutional neural networks").
For a BagNet the patch grid is exact: (q, 8, 0) (Brendel & Bethge, ICLR 2019, arXiv 1904.00760).

:func:`layer_geometry` derives the geometry of any hooked layer from the module graph by running
one forward pass with hooks on every module: each module output is given the geometry composed
from its input's; a tensor made outside a module (a residual addition, a crop, the input
normalisation) gets the union of the geometries of the earlier module outputs of the same spatial
shape at the largest stride (the receptive field of a sum is the union of its terms').

:func:`place` puts a layer-resolution map on the image by this geometry: every value is spread
evenly over its receptive field (the rule :func:`attrbench.ground_truth.patches_to_pixels` uses for
the patch grid), so the same raw map is placed identically whatever resolution it declares.
:func:`coverage_mask` marks the pixels some output sees; metrics ignore the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attrbench.api import AttributionMethod, Resolution
from attrbench.errors import DataError
from attrbench.models.bagnet import ReceptiveField
from attrbench.models.common import ImageModel

__all__ = [
    "Geometry",
    "coverage_fraction",
    "coverage_mask",
    "layer_geometry",
    "layer_geometry_and_grid",
    "method_geometry",
    "model_coverage",
    "model_coverage_fraction",
    "patch_coverage",
    "place",
    "placing_geometry",
]


@dataclass(frozen=True)
class Geometry:
    """Receptive-field geometry shared by both axes (pixels).

    Attributes:
        size: receptive-field side.
        stride: distance between neighbouring positions.
        offset: first input row seen by position 0 (negative under padding).
    """

    size: int
    stride: int = 1
    offset: int = 0

    @classmethod
    def of(cls, rf: ReceptiveField) -> Geometry:
        """The exact geometry of a BagNet patch grid."""
        return cls(size=rf.size, stride=rf.stride, offset=0)

    def centred(self) -> Geometry:
        """The stride x stride block at each receptive field's centre (start rounded down)."""
        return Geometry(size=self.stride, stride=self.stride, offset=self.offset + (self.size - self.stride) // 2)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """Positions (h, w) whose receptive fields start inside the image and end within it (+ padding)."""
        return tuple(max(0, (n - 2 * self.offset - self.size) // self.stride + 1) for n in (height, width))  # type: ignore[return-value]

    def compose(self, *, kernel: int, stride: int, padding: int, dilation: int = 1) -> Geometry:
        """The geometry after a conv/pool layer (module docstring)."""
        return Geometry(
            size=self.size + (kernel - 1) * dilation * self.stride,
            stride=self.stride * stride,
            offset=self.offset - padding * self.stride,
        )

    def union(self, other: Geometry) -> Geometry:
        """Smallest geometry containing both (same stride)."""
        lo = min(self.offset, other.offset)
        hi = max(self.offset + self.size, other.offset + other.size)
        return Geometry(size=hi - lo, stride=max(self.stride, other.stride), offset=lo)


def place(grid: Tensor, *, geometry: Geometry, size: tuple[int, int]) -> Tensor:
    """Spread each value of a (B, 1, h, w) map evenly over its receptive field: -> (B, 1, H, W).

    Pixel value = sum over the positions that see it of value / size^2; receptive-field parts
    outside the image are dropped; pixels no position sees are 0.
    """
    if grid.ndim == 3:
        grid = grid.unsqueeze(1)
    g = geometry
    weight = torch.ones(1, 1, g.size, g.size, dtype=grid.dtype, device=grid.device) / (g.size * g.size)
    out = F.conv_transpose2d(grid, weight, stride=g.stride)  # row t <-> input row offset + t
    h, w = int(size[0]), int(size[1])
    # crop rows before 0 (negative offset) and pad/crop to the image
    top = -g.offset
    out = out[..., max(top, 0) :, max(top, 0) :]
    out = F.pad(out, (max(-top, 0), 0, max(-top, 0), 0))
    out = out[..., :h, :w]
    return F.pad(out, (0, w - out.shape[-1], 0, h - out.shape[-2]))


def coverage_mask(*, geometry: Geometry, grid: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """(1, 1, H, W) bool: pixels seen by at least one of the ``grid`` = (h, w) positions."""
    ones = torch.ones(1, 1, *grid, dtype=torch.float64)
    return place(ones, geometry=geometry, size=size) > 0


def coverage_fraction(*, geometry: Geometry, grid: tuple[int, int], size: tuple[int, int]) -> float:
    """Share of the image's pixels some output sees (1.0 when the receptive fields tile the image)."""
    return float(coverage_mask(geometry=geometry, grid=grid, size=size).double().mean())


def patch_coverage(rf: ReceptiveField | None, *, size: tuple[int, int]) -> Tensor | None:
    """(1, 1, H, W) bool pixels some BagNet patch sees; None for models without a patch grid."""
    if rf is None:
        return None
    return coverage_mask(geometry=Geometry.of(rf), grid=rf.grid(*size), size=size)


def model_coverage(model: nn.Module, *, size: tuple[int, int]) -> Tensor:
    """(1, 1, H, W) bool pixels the model's output depends on through some patch.

    A BagNet (``spec.receptive_field`` set) sees the union of its windows; any other model is taken
    to see every pixel (its logit pools over all positions).
    """
    q = model.spec.receptive_field if isinstance(model, ImageModel) else None
    if q is None:
        return torch.ones(1, 1, int(size[0]), int(size[1]), dtype=torch.bool)
    rf = ReceptiveField(size=q, stride=model.spec.rf_stride)  # type: ignore[union-attr]
    return coverage_mask(geometry=Geometry.of(rf), grid=rf.grid(*size), size=size)


def model_coverage_fraction(model: nn.Module, *, size: tuple[int, int]) -> float:
    """Share of the input's pixels :func:`model_coverage` marks as seen (for config.json)."""
    return float(model_coverage(model, size=size).double().mean())


def method_geometry(model: nn.Module, method: AttributionMethod, *, size: tuple[int, int]) -> Geometry | None:
    """Geometry of a layer method's layer (its ``layer`` attribute), None for other methods."""
    return None if method.layer is None else layer_geometry(model, method.layer, input_size=size)


def placing_geometry(model: ImageModel, method: AttributionMethod, *, label: str) -> Geometry | None:
    """:func:`method_geometry` at the model's input size, for the run (``RunContext.open``); None for
    methods whose maps are not at layer resolution (``info.resolution``: a method with a layer that
    returns input-resolution maps, such as Guided Grad-CAM, is not placed).

    Raises:
        DataError: the layer's geometry cannot be derived from the module graph (a layer map
            would otherwise be stretched over the image, which the scores must not depend on).
    """
    if method.info.resolution is not Resolution.LAYER:
        return None
    try:
        return method_geometry(model, method, size=tuple(model.spec.input_size))
    except ValueError as exc:
        raise DataError(f"method {label!r}: cannot place its layer map on the image ({exc})") from exc


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _compose_module(module: nn.Module, g: Geometry) -> Geometry:
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = _pair(module.kernel_size), _pair(module.stride or module.kernel_size), _pair(module.padding)  # type: ignore[arg-type]
        d = _pair(getattr(module, "dilation", 1))  # type: ignore[arg-type]
        if k[0] != k[1] or s[0] != s[1] or p[0] != p[1] or d[0] != d[1]:
            raise ValueError(f"geometry: {type(module).__name__} with different row/column settings is not supported")
        return g.compose(kernel=k[0], stride=s[0], padding=p[0], dilation=d[0])
    return g


def layer_geometry(model: nn.Module, layer: str, *, input_size: tuple[int, int]) -> Geometry:
    """Geometry of the output of ``model.get_submodule(layer)`` (module docstring).

    Args:
        model: a network taking (B, 3, H, W) images.
        layer: dotted module path (e.g. ``"net.layer3"``).
        input_size: (H, W) of the probe forward pass.
    """
    return layer_geometry_and_grid(model, layer, input_size=input_size)[0]


@torch.no_grad()
def layer_geometry_and_grid(
    model: nn.Module, layer: str, *, input_size: tuple[int, int]
) -> tuple[Geometry, tuple[int, int]]:
    """:func:`layer_geometry` and the layer's output grid (H', W') at ``input_size``, from one forward."""
    target = model.get_submodule(layer)
    known: dict[int, tuple[Tensor, Geometry]] = {}
    seen: list[tuple[tuple[int, int], Geometry]] = [(tuple(input_size), Geometry(size=1))]  # type: ignore[list-item]
    result: list[tuple[Geometry, tuple[int, int]]] = []

    def geometry_of(t: Tensor) -> Geometry:
        if id(t) in known and known[id(t)][0] is t:
            return known[id(t)][1]
        same = [g for shape, g in seen if shape == tuple(t.shape[-2:])]
        if not same:
            raise ValueError(f"geometry: cannot place a tensor of shape {tuple(t.shape)} computed outside a module")
        top = max(g.stride for g in same)
        widest = [g for g in same if g.stride == top]
        out = widest[0]
        for g in widest[1:]:
            out = out.union(g)
        return out

    def hook(module: nn.Module, args: tuple, output: object) -> None:  # noqa: ANN001
        if not torch.is_tensor(output) or output.ndim != 4 or not args or not torch.is_tensor(args[0]):
            return
        if len(list(module.children())) == 0:
            g = _compose_module(module, geometry_of(args[0]))
        else:
            g = geometry_of(output)
        known[id(output)] = (output, g)
        seen.append((tuple(output.shape[-2:]), g))  # type: ignore[arg-type]
        if module is target:
            result.append((g, tuple(output.shape[-2:])))  # type: ignore[arg-type]

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        p = next(iter(model.parameters()), None)
        x = torch.zeros(1, 3, *input_size, dtype=p.dtype if p is not None else torch.float32,
                        device=p.device if p is not None else None)  # fmt: skip
        known[id(x)] = (x, Geometry(size=1))
        model(x)
    finally:
        for h in handles:
            h.remove()
    if not result:
        raise ValueError(f"geometry: layer {layer!r} did not run in a forward pass of {type(model).__name__}")
    return result[0]
