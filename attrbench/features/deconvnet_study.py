"""The deconvnet visualisation of a layer: top-k activations per channel over a dataset, each
projected with the deconvnet and shown beside its image patch cropped to the receptive field
(Zeiler & Fergus, ECCV 2014, Fig. 2). Writes ``deconvnet-<layer>.png`` and ``top<k>-<layer>.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from torch import nn

from attrbench.features.data import FeatureImages
from attrbench.features.deconvnet import project_activation
from attrbench.features.figures import Patch, crop, deconv_grid
from attrbench.features.geometry import LayerGeometry, layer_geometry
from attrbench.features.topk import TopActivations, top_activations

__all__ = ["deconvnet_figure", "strongest_channels"]


def strongest_channels(top: TopActivations, n: int) -> list[int]:
    """Rows of ``top`` of the ``n`` channels with the largest mean top-k value (ties: lower row)."""
    order = torch.sort(top.values.mean(1), descending=True, stable=True).indices
    return order[:n].tolist()


def deconvnet_figure(
    model: nn.Module,
    images: FeatureImages,
    *,
    layer: str,
    channels: list[int] | None,
    n_channels: int,
    k: int,
    out_dir: str | Path,
    device: torch.device,
    batch_size: int = 32,
    geometry: LayerGeometry | None = None,
    top: TopActivations | None = None,
) -> tuple[Path, Path]:
    """Search, project, crop and draw one layer (module docstring). ``channels`` None: the
    ``n_channels`` strongest of all channels; ``geometry``: the layer's, if already derived;
    ``top``: the search's result, if already made from recorded maps (:func:`top_of_maps`).
    Returns the figure and the csv paths."""
    out_dir = Path(out_dir)
    size = tuple(images.images([0]).shape[-2:])
    if top is None:
        top = top_activations(model, images.batches(batch_size=batch_size, device=device), layer=layer,
                              channels=channels, k=k)  # fmt: skip
    rows_idx = list(range(len(top.channels))) if channels is not None else strongest_channels(top, n_channels)
    geo = geometry or layer_geometry(model, layer=layer, input_size=size)  # type: ignore[arg-type]
    ids = images.ids()
    rows, table = [], []
    for r in rows_idx:
        channel = top.channels[r]
        picks = top.images[r].tolist()
        batch = images.images(picks).to(device)
        proj = project_activation(model, batch, layer=layer, channels=channel, positions=top.positions[r])
        patches = []
        for n, (pos, value) in enumerate(zip(top.positions[r].tolist(), top.values[r].tolist())):
            box = geo.box(*pos)
            patches.append(Patch(image=crop(batch[n].cpu(), box), projection=crop(proj.pixels[n].cpu(), box),
                                 caption=f"{value:.2g}"))  # fmt: skip
            table.append({"layer": layer, "channel": channel, "rank": n + 1, "image": ids[picks[n]],
                          "row": pos[0], "col": pos[1], "value": value, "box": " ".join(map(str, box))})  # fmt: skip
        rows.append((f"ch {channel}", patches))
    safe = layer.replace("/", "_")
    fig = deconv_grid(rows, title=f"{layer}: top-{k} activations (deconvnet projection above, image patch below; "
                      f"receptive field {geo.size[0]} px)", path=out_dir / f"deconvnet-{safe}.png")  # fmt: skip
    csv_path = out_dir / f"top{k}-{safe}.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    return fig, csv_path
