"""Occlusion sensitivity (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901, Fig. 7).

A grey square of ``size`` pixels slides over the image with ``stride``; for every position of its
top-left corner the occluded image is classified and three maps are recorded:

* the probability of the given class (softmax of the logits), their Fig. 7 (d);
* the total activation (sum over positions) of the **strongest feature map** of ``layer``: the
  channel with the largest single activation in the unoccluded image, their Fig. 7 (b);
* the predicted class, their Fig. 7 (e).

Positions: rows 0, stride, ..., H - size (the last one added if the stride skips it), same for
columns; the value at (i, j) belongs to the square whose top-left pixel is (rows[i], cols[j]).

:func:`on_object_summary` turns the probability map into the paper's claim, tested per image: does
the probability of the class drop most when the square covers the object (its box)? A square is
"on the object" when its centre lies inside the box.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attrbench.errors import OptionError
from attrbench.features.geometry import find_layer, one_output
from attrbench.hooks import capture_output

__all__ = ["OcclusionMaps", "occlusion_sensitivity", "on_object_summary", "square_positions"]


@dataclass(frozen=True)
class OcclusionMaps:
    """Maps over square positions (R, C); see the module docstring.

    Attributes:
        probability: (R, C) probability of ``label``; activation: (R, C) total activation of
        ``channel``; predicted: (R, C) long predicted class; rows, cols: square top-left pixels.
        base_probability, base_activation, base_predicted: the unoccluded values.
    """

    label: int
    channel: int
    probability: Tensor
    activation: Tensor
    predicted: Tensor
    rows: Tensor
    cols: Tensor
    base_probability: float
    base_activation: float
    base_predicted: int


def square_positions(length: int, *, size: int, stride: int) -> Tensor:
    """Top-left coordinates 0, stride, ... along one axis, ending with ``length - size``."""
    if not 0 < size <= length or stride < 1:
        raise OptionError(f"--size must lie in [1, {length}] and --stride be >= 1, got size {size}, stride {stride}")
    pos = list(range(0, length - size + 1, stride))
    if pos[-1] != length - size:
        pos.append(length - size)
    return torch.tensor(pos)


@torch.no_grad()
def _forward(model: nn.Module, layer: nn.Module, name: str, images: Tensor) -> tuple[Tensor, Tensor]:
    with capture_output(layer) as store:
        logits = model(images)
    return logits, one_output(store, name)


@torch.no_grad()
def occlusion_sensitivity(
    model: nn.Module,
    image: Tensor,
    *,
    label: int,
    layer: str,
    size: int = 16,
    stride: int = 4,
    fill: float = 0.5,
    batch_size: int = 64,
) -> OcclusionMaps:
    """The three occlusion maps of ``image`` (3, H, W) for class ``label`` (module docstring).

    Args:
        model: a classifier returning (B, classes) logits; ``layer`` one of its submodules.
        size, stride: the square's side and step in pixels; fill: the grey value of the square.
        batch_size: occluded images per forward.
    """
    layer_module = find_layer(model, layer)
    logits, act = _forward(model, layer_module, layer, image[None])
    if not 0 <= label < logits.shape[1]:
        raise OptionError(f"label {label} outside the model's {logits.shape[1]} classes")
    channel = int(act[0].flatten(1).amax(1).argmax())
    rows = square_positions(image.shape[-2], size=size, stride=stride)
    cols = square_positions(image.shape[-1], size=size, stride=stride)
    corners = torch.cartesian_prod(rows, cols)
    probs, acts, preds = [], [], []
    for s in range(0, corners.shape[0], batch_size):
        chunk = corners[s : s + batch_size]
        batch = image[None].repeat(chunk.shape[0], 1, 1, 1)
        for k, (r, c) in enumerate(chunk.tolist()):
            batch[k, :, r : r + size, c : c + size] = fill
        out, feat = _forward(model, layer_module, layer, batch)
        probs.append(out.softmax(1)[:, label])
        acts.append(feat[:, channel].flatten(1).sum(1))
        preds.append(out.argmax(1))
    shape = (rows.numel(), cols.numel())
    return OcclusionMaps(
        label=label, channel=channel,
        probability=torch.cat(probs).reshape(shape).cpu(), activation=torch.cat(acts).reshape(shape).cpu(),
        predicted=torch.cat(preds).reshape(shape).cpu(), rows=rows, cols=cols,
        base_probability=float(logits.softmax(1)[0, label]), base_activation=float(act[0, channel].sum()),
        base_predicted=int(logits.argmax(1)[0]),
    )  # fmt: skip


def on_object_summary(maps: OcclusionMaps, *, bbox: tuple[float, float, float, float], size: int) -> dict[str, float]:
    """The probability map of one image against the object's box (module docstring).

    Args:
        maps: the occlusion maps; bbox: (x, y, w, h) in pixels of the image; size: the square's side.

    Returns:
        ``on_share``: share of the square positions on the object; ``worst_on``: 1.0 if the position
        with the lowest probability (first in row-major order on ties) is on the object, else 0.0;
        ``drop_on`` / ``drop_off``: the unoccluded probability minus the mean probability over the
        positions on / off the object (NaN where there are none).
    """
    x, y, w, h = bbox
    centre_r, centre_c = maps.rows.double() + (size - 1) / 2, maps.cols.double() + (size - 1) / 2
    on_r = (centre_r >= y) & (centre_r <= y + h - 1)
    on_c = (centre_c >= x) & (centre_c <= x + w - 1)
    on = on_r[:, None] & on_c[None, :]  # (R, C)
    prob = maps.probability.double()
    worst = int(prob.flatten().argmin())

    def drop(where: Tensor) -> float:
        return maps.base_probability - float(prob[where].mean()) if bool(where.any()) else float("nan")

    return {"on_share": float(on.double().mean()), "worst_on": float(on.flatten()[worst]),
            "drop_on": drop(on), "drop_off": drop(~on)}  # fmt: skip
