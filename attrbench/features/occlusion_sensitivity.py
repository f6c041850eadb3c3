"""Occlusion sensitivity (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901, Fig. 7).

A grey square of ``size`` pixels slides over the image with ``stride``; for every position of its
top-left corner the occluded image is classified and three maps are recorded:

* the probability of the given class (softmax of the logits), their Fig. 7 (d);
* the total activation (sum over positions) of the **strongest feature map** of ``layer``: the
  channel with the largest single activation in the unoccluded image, their Fig. 7 (b);
* the predicted class, their Fig. 7 (e).

Positions: rows 0, stride, ..., H - size (the last one added if the stride skips it), same for
columns; the value at (i, j) belongs to the square whose top-left pixel is (rows[i], cols[j]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attrbench.errors import OptionError
from attrbench.features.geometry import find_layer, one_output
from attrbench.hooks import capture_output

__all__ = ["OcclusionMaps", "occlusion_sensitivity", "square_positions"]


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
