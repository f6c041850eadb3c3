"""What the commands and the results script do with a mined explanatory graph: infer node
positions on a dataset, measure location instability against raw-filter peaks and random positions
(:mod:`attrbench.features.location_instability`), and draw the top-ranked patches and heat maps of
the strongest patterns."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from attrbench.features.data import FeatureImages
from attrbench.features.explanatory_graph import (
    ExplanatoryGraph,
    NodePositions,
    capture_layers,
    dataset_outputs,
    expected_positions,
    infer_positions,
    positions_from_outputs,
    responses,
)
from attrbench.features.figures import Patch, crop, heat_map, pattern_figure
from attrbench.features.geometry import one_output
from attrbench.features.location_instability import (
    LayerPatterns,
    layer_instabilities,
    mean_over_layers,
    random_positions,
    raw_peaks,
    subset,
    verdict,
)
from attrbench.stats import half_sample_statistics

__all__ = [
    "POSITION_SOURCES",
    "collect",
    "collect_from_outputs",
    "comparison_tables",
    "draw_patterns",
    "position_sources",
    "strongest_nodes",
]

#: the three position sources compared, in table order.
POSITION_SOURCES: tuple[str, ...] = ("explanatory graph", "raw filter peaks", "random positions")


def collect_from_outputs(
    graph: ExplanatoryGraph, outputs: dict[str, Tensor]
) -> tuple[list[NodePositions], list[LayerPatterns]]:
    """Node positions of the graph and raw-filter peaks of its layers from the layers' recorded
    outputs (N, C, H', W') on N images (:func:`attrbench.features.explanatory_graph.dataset_outputs`)."""
    nodes = positions_from_outputs(graph, outputs)
    peaks = [raw_peaks(lay.name, outputs[lay.name], lay.geometry) for lay in graph.layers]
    return nodes, peaks


def collect(
    graph: ExplanatoryGraph, model: nn.Module, images: FeatureImages, *, device: torch.device, batch_size: int = 32
) -> tuple[list[NodePositions], list[LayerPatterns]]:
    """Node positions of the graph and raw-filter peaks of its layers on all ``images``."""
    batches = (b for _, b in images.batches(batch_size=batch_size, device=device))
    return collect_from_outputs(graph, dataset_outputs(model, batches, [lay.name for lay in graph.layers]))


def position_sources(
    nodes: list[NodePositions], peaks: list[LayerPatterns], *, image_size: tuple[int, int], seed: int = 0
) -> dict[str, list[LayerPatterns]]:
    """The three sources of :data:`POSITION_SOURCES`, each a list of layers (top layer first)."""
    graph = [LayerPatterns(n.layer, n.positions, n.scores) for n in nodes]
    rand = [random_positions(lay, image_size=image_size, seed=seed + i) for i, lay in enumerate(graph)]
    return dict(zip(POSITION_SOURCES, (graph, peaks, rand)))


def comparison_tables(
    sources: dict[str, list[LayerPatterns]], landmarks: tuple[Tensor, list[str]], *, model: str,
    image_size: tuple[int, int], top_images: int = 20, pattern_fraction: float = 1 / 3, resamples: int = 1000,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Location instability per source and layer, and the paired differences, from one set of half-samples.

    Each resample of the images computes every source's per-layer values once; layer "all" (the
    mean over layers, the paper's number), each layer alone, and explanatory graph minus each other
    source (its interval decides :func:`attrbench.features.location_instability.verdict`) are all
    derived from them, so every interval uses the same resamples (as separate
    :func:`~attrbench.features.location_instability.instability_with_ci` calls with this seed would).

    Args:
        sources: :func:`position_sources` (explanatory graph first); landmarks: (N, L, 3) landmarks and
            their names (:meth:`FeatureImages.landmarks`).

    Returns:
        instability rows (source-major, layer "all" first, then the layers top first) and difference rows.
    """
    marks, names = landmarks
    names_of = ["all"] + [lay.layer for lay in next(iter(sources.values()))]
    kw = dict(image_size=image_size, top_images=top_images, pattern_fraction=pattern_fraction)

    def statistic(idx: np.ndarray) -> np.ndarray:
        index = torch.as_tensor(idx, dtype=torch.long)
        per = [layer_instabilities(subset(layers, index), marks[index], **kw) for layers in sources.values()]  # type: ignore[arg-type]
        table = np.array([[mean_over_layers(values), *values] for values in per])  # (S, 1 + L)
        return np.concatenate([table.ravel(), (table[0] - table[1:]).ravel()])

    stats = half_sample_statistics(statistic, int(marks.shape[0]), resamples=resamples, seed=seed)
    width, common = len(names_of), {"model": model, "images": int(marks.shape[0])}
    rows, diffs = [], []
    for i, (source, layers) in enumerate(sources.items()):
        for j, layer in enumerate(names_of):
            value, low, high, shift = stats[i * width + j]
            chosen = layers if layer == "all" else [layers[j - 1]]
            rows.append({"model": model, "positions": source, "layer": layer, "instability": value, "ci_low": low,
                         "ci_high": high, "half_sample_shift": shift, "images": common["images"],
                         "patterns": " ".join(str(lay.scores.shape[0]) for lay in chosen), "landmarks": " ".join(names),
                         "top_images": top_images, "pattern_fraction": round(pattern_fraction, 4)})  # fmt: skip
    for i, other in enumerate(list(sources)[1:]):
        for j, layer in enumerate(names_of):
            value, low, high, shift = stats[(len(sources) + i) * width + j]
            diffs.append({"model": model, "versus": other, "layer": layer, "difference": value, "ci_low": low,
                          "ci_high": high, "half_sample_shift": shift, "verdict": verdict(low, high), "images": common["images"]})  # fmt: skip
    return rows, diffs


def strongest_nodes(scores: Tensor, *, n: int, top_images: int = 20) -> list[int]:
    """The ``n`` nodes with the largest mean score over their ``top_images`` best images."""
    best = torch.sort(scores, dim=1, descending=True).values[:, :top_images].mean(1)
    return torch.sort(best, descending=True, stable=True).indices[:n].tolist()


@torch.no_grad()
def _node_map(graph: ExplanatoryGraph, model: nn.Module, image: Tensor, *, layer_index: int, node: int) -> Tensor:
    """(K,) R_d(x) G_V(x) of one node on one image (1, 3, H, W), parents inferred top-down."""
    parent = None
    if layer_index > 0:
        parent = infer_positions(graph, model, image)[layer_index - 1].positions
    lay = graph.layers[layer_index]
    with capture_layers(model, [lay.name]) as stores:
        model(image)
    resp = responses(one_output(stores[lay.name], lay.name), lay.scale.to(image.device)).cpu()[0]
    m = expected_positions(lay, parent, 1)[node, 0]
    d2 = ((lay.geometry.centres() - m) ** 2).sum(-1)
    return resp[int(lay.filters()[node])] * torch.exp(-d2 / (2 * float(lay.sigmas[node]) ** 2))


def draw_patterns(
    graph: ExplanatoryGraph, model: nn.Module, images: FeatureImages, nodes: list[NodePositions], *,
    out_dir: str | Path, device: torch.device, n_patterns: int = 6, n_patches: int = 6,
) -> list[Path]:  # fmt: skip
    """Per layer, the strongest patterns: their top-ranked patches and a heat map on their best image."""
    paths = []
    for li, (lay, pos) in enumerate(zip(graph.layers, nodes)):
        rows = []
        for v in strongest_nodes(pos.scores, n=n_patterns):
            order = torch.sort(pos.scores[v], descending=True, stable=True).indices[:n_patches].tolist()
            pics = images.images(order)
            patches = []
            for p, img in zip(order, pics):
                r, c = (float(t) for t in pos.positions[v, p])
                half = (lay.geometry.size[0] / 2, lay.geometry.size[1] / 2)
                box = (math.floor(r - half[0] + 0.5), math.floor(r + half[0] + 0.5),
                       math.floor(c - half[1] + 0.5), math.floor(c + half[1] + 0.5))  # fmt: skip
                patches.append(Patch(image=crop(img, box)))
            scores = _node_map(graph, model, pics[:1].to(device), layer_index=li, node=v)
            heat = heat_map(scores, geometry=lay.geometry, size=tuple(pics.shape[-2:]))  # type: ignore[arg-type]
            rows.append((f"node {v} (filter {v // lay.patterns})", patches, pics[0], heat))
        safe = lay.name.replace("/", "_")
        paths.append(pattern_figure(rows, title=f"{lay.name}: strongest patterns (top-ranked patches, heat map on the best image)",
                                    path=Path(out_dir) / f"patterns-{safe}.png"))  # fmt: skip
    return paths
