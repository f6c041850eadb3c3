"""Image geometry: the one transform from a file's pixels to the model's input (issue 13, item 2).

Every dataset (:class:`attrbench.datasets.base.ImageDataset`) brings a sample of any size to the
output size (H_o, W_o) with one of three modes (``--resize``):

* ``"shorter-crop"`` (default, the ImageNet convention of resizing the shorter side and taking
  the centre crop): the largest centred box of the output's aspect ratio inside the image;
* ``"squash"``: the whole image, each axis scaled independently (the aspect ratio changes);
* ``"pad"``: the smallest centred box of the output's aspect ratio containing the image, the
  added border filled with 0 (black image, mask 0 = background).

Each mode is a *source box*: integers (left, top, width, height) in source pixels, possibly
reaching outside the image (pad). The box is cut out (zero outside the image) and resized to the
output, bilinearly (antialiased when shrinking; :func:`resize_tensor`), image and mask alike, so
masks stay soft in [0, 1]. The box is computed first and resized once, so ``shorter-crop`` of a
W x H image equals cropping its centre box by hand and then resizing that crop (the test).

Coordinates follow the pixel convention of :mod:`attrbench.datasets.base` (pixel (i, j) covers
[j, j+1) x [i, i+1)), and map in closed form with sx = W_o / width, sy = H_o / height:

    x' = (x - left) * sx,   y' = (y - top) * sy,   box (x, y, w, h) -> (x', y', w * sx, h * sy),

then boxes are clipped to the output, and parts that fall outside it become invisible (0, 0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from attrbench.api import Sample
from attrbench.errors import OptionError

__all__ = ["DEFAULT_RESIZE", "RESIZE_MODES", "Geometry", "check_resize", "geometry", "output_size", "resize_tensor", "transform_sample"]

#: accepted values of ``--resize``.
RESIZE_MODES: tuple[str, ...] = ("shorter-crop", "squash", "pad")
#: the default mode (ImageNet convention).
DEFAULT_RESIZE = "shorter-crop"


def check_resize(mode: str) -> str:
    """``mode`` if it is one of :data:`RESIZE_MODES`, else an OptionError naming ``--resize``."""
    if mode not in RESIZE_MODES:
        raise OptionError(f"--resize must be one of {', '.join(RESIZE_MODES)}, got {mode!r}")
    return mode


@dataclass(frozen=True)
class Geometry:
    """The source box of one transform and its closed-form coordinate map.

    Attributes:
        left, top, width, height: the source box in source pixels (may extend outside the image).
        out: (H_o, W_o) output size.
    """

    left: int
    top: int
    width: int
    height: int
    out: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy) = (W_o / width, H_o / height)."""
        return self.out[1] / self.width, self.out[0] / self.height

    def point(self, x: float, y: float) -> tuple[float, float]:
        """Source point (x, y) -> output point."""
        sx, sy = self.scale
        return (x - self.left) * sx, (y - self.top) * sy

    def box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Source box (x, y, w, h) -> output box, clipped to the output image."""
        sx, sy = self.scale
        x0, y0 = self.point(box[0], box[1])
        x1, y1 = x0 + box[2] * sx, y0 + box[3] * sy
        h_o, w_o = self.out
        x0, x1 = min(max(x0, 0.0), w_o), min(max(x1, 0.0), w_o)
        y0, y1 = min(max(y0, 0.0), h_o), min(max(y1, 0.0), h_o)
        return x0, y0, x1 - x0, y1 - y0

    def parts(self, parts: Tensor) -> Tensor:
        """(P, 3) parts (x, y, visible) -> output parts; outside the output -> (0, 0, 0)."""
        sx, sy = self.scale
        out = parts.clone()
        out[:, 0] = (parts[:, 0] - self.left) * sx
        out[:, 1] = (parts[:, 1] - self.top) * sy
        h_o, w_o = self.out
        inside = (out[:, 0] >= 0) & (out[:, 0] < w_o) & (out[:, 1] >= 0) & (out[:, 1] < h_o)
        out[~((parts[:, 2] > 0) & inside)] = 0.0
        return out

    def tensor(self, t: Tensor) -> Tensor:
        """(C, H, W) source tensor -> (C, H_o, W_o): cut the box (0 outside the image), resize."""
        _, h, w = t.shape
        right, bottom = self.left + self.width - w, self.top + self.height - h
        if (self.left, self.top, right, bottom) != (0, 0, 0, 0):
            t = F.pad(t, (-self.left, right, -self.top, bottom), value=0.0)
        return resize_tensor(t, self.out)


def output_size(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """(H, W) of an int side or a pair; OptionError naming ``--image-size`` otherwise."""
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    ok = isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) and s >= 1 for s in size)
    if not ok:
        raise OptionError(f"--image-size must be a positive int or (height, width), got {size!r}")
    return int(size[0]), int(size[1])


def geometry(*, source: tuple[int, int], out: int | tuple[int, int], mode: str = DEFAULT_RESIZE) -> Geometry:
    """The :class:`Geometry` taking a (H, W) ``source`` image to ``out`` under ``mode`` (module docstring).

    shorter-crop: width = min(W, round(H * W_o / H_o)), height = min(H, round(W * H_o / W_o)),
    centred with floor((W - width) / 2), floor((H - height) / 2). pad: the same with max, so the
    offsets are <= 0. squash: the whole image.
    """
    h, w = source
    h_o, w_o = output_size(out)
    check_resize(mode)
    if mode == "squash":
        return Geometry(0, 0, w, h, (h_o, w_o))
    pick = min if mode == "shorter-crop" else max
    bw = max(1, pick(w, round(h * w_o / h_o)))
    bh = max(1, pick(h, round(w * h_o / w_o)))
    return Geometry((w - bw) // 2, (h - bh) // 2, bw, bh, (h_o, w_o))


def resize_tensor(t: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear (antialiased when shrinking) resize of a (C, H, W) tensor to ``size`` = (H, W), clamped to [0, 1]."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    shrink = size[0] < t.shape[-2] or size[1] < t.shape[-1]
    out = F.interpolate(t.unsqueeze(0), size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return out.squeeze(0).clamp_(0.0, 1.0)


def transform_sample(sample: Sample, *, size: int | tuple[int, int], mode: str = DEFAULT_RESIZE) -> Sample:
    """``sample`` brought to ``size`` by ``mode``; image, mask, bbox and parts follow one :class:`Geometry`."""
    _, h, w = sample.image.shape
    geo = geometry(source=(h, w), out=size, mode=mode)
    image = geo.tensor(sample.image)
    mask = None if sample.mask is None else geo.tensor(sample.mask)
    bbox = None if sample.bbox is None else geo.box(sample.bbox)
    parts = None if sample.parts is None else geo.parts(sample.parts)
    return Sample(image=image, label=sample.label, id=sample.id, mask=mask, bbox=bbox, parts=parts)
