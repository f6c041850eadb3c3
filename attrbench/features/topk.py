"""The top-k activations of chosen channels over a dataset (Zeiler & Fergus, ECCV 2014, Fig. 2).

For every image the channel's strongest activation is taken (its value and its (row, col) in the
layer grid; the first in row-major order on ties); over the dataset the k images with the largest
such values are kept, ties broken by the smaller dataset index. Each kept entry is later projected
with the deconvnet (:mod:`attrbench.features.deconvnet`) and shown beside its image patch.
Streaming: one batch at a time, a running top-k per channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attrbench.errors import OptionError
from attrbench.features.geometry import layer_output

__all__ = ["TopActivations", "top_activations", "top_of_maps"]


@dataclass(frozen=True)
class TopActivations:
    """Per channel, the k strongest activations over a dataset, strongest first.

    Attributes:
        layer: the layer name.
        channels: the channels, in the order of the rows below.
        values: (C', k) activation values.
        images: (C', k) long dataset indices.
        positions: (C', k, 2) long (row, col) in the layer grid.
    """

    layer: str
    channels: tuple[int, ...]
    values: Tensor
    images: Tensor
    positions: Tensor


def _merge(best: tuple[Tensor, Tensor, Tensor], new: tuple[Tensor, Tensor, Tensor], k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Running top-k: order by value (descending), ties by image index (ascending)."""
    values, images, positions = (torch.cat(pair, dim=1) for pair in zip(best, new))
    order = torch.sort(images, dim=1, stable=True).indices
    values, images = values.gather(1, order), images.gather(1, order)
    positions = positions.gather(1, order[..., None].expand_as(positions))
    order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
    return values.gather(1, order), images.gather(1, order), positions.gather(1, order[..., None].expand(-1, -1, 2))


@torch.no_grad()
def top_activations(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    layer: str,
    channels: list[int] | None = None,
    k: int = 9,
) -> TopActivations:
    """The ``k`` strongest per-image activations of each channel (see the module docstring).

    Args:
        model: the network; ``layer`` names one of its submodules.
        batches: (indices (B,) long dataset indices, images (B, 3, H, W)) pairs.
        layer: the feature map (B, C, H', W') to search.
        channels: channels to keep (None: all).
        k: entries per channel (fewer if the dataset has fewer images).
    """
    maps = ((indices, layer_output(model, images, layer=layer)) for indices, images in batches)
    return top_of_maps(maps, layer=layer, channels=channels, k=k)


def top_of_maps(
    batches: Iterable[tuple[Tensor, Tensor]], *, layer: str, channels: list[int] | None = None, k: int = 9
) -> TopActivations:
    """:func:`top_activations` from feature maps already computed: (indices (B,), maps (B, C, H', W'))
    pairs, e.g. all images' outputs at once, recorded in the same forward as other layers'."""
    best: tuple[Tensor, Tensor, Tensor] | None = None
    chans: list[int] = []
    for indices, maps in batches:
        act = maps.float().cpu()
        if best is None:
            chans = list(range(act.shape[1])) if channels is None else list(channels)
            bad = [c for c in chans if not 0 <= c < act.shape[1]]
            if bad:
                raise OptionError(f"--channels {bad} out of range: layer {layer!r} has {act.shape[1]} channels")
            n = len(chans)
            best = (torch.empty(n, 0), torch.empty(n, 0, dtype=torch.long), torch.empty(n, 0, 2, dtype=torch.long))
        vals, flat = act[:, chans].flatten(2).max(dim=2)  # (B, C'), first maximum on ties
        w = act.shape[-1]
        pos = torch.stack([flat // w, flat % w], dim=-1)  # (B, C', 2)
        idx = indices.cpu().long()[:, None].expand(-1, len(chans))
        best = _merge(best, (vals.T, idx.T, pos.transpose(0, 1)), k)
    if best is None:
        raise ValueError("top_activations: no batches")
    return TopActivations(layer=layer, channels=tuple(chans), values=best[0], images=best[1], positions=best[2])
