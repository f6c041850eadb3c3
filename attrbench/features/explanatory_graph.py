"""The Explanatory Graph (Zhang, Cao, Shi, Wu, Zhu, AAAI 2018, arXiv 1708.01785): structure,
inference of node positions, and the file format. Mining is :mod:`attrbench.features.graph_mining`.

A graph has one level per chosen conv layer, the top layer first. Each filter d of a layer is
split into ``n`` part patterns (nodes, filter-major: node v belongs to filter v // n). A node V has
a Gaussian prior on its position in image I (pixel (row, col) coordinates of the model input):

    top layer:    m_V(I) = mu_V                                          (an absolute anchor)
    lower layer:  m_V(I) = (1 / M) sum_{U in Pa(V)} (p_U(I) + Delta_{U,V})

where Pa(V) are V's M parents in the layer above and p_U(I) their inferred positions. Inference
(top-down) places V where its filter's response agrees best with the prior:

    p_V(I) = argmax_x R_d(I, x) exp(-|x - m_V(I)|^2 / (2 sigma_V^2)),   S_V(I) = the maximum,

with x the receptive-field centres of the layer's units and R_d = max(F_d, 0) / scale_d the
filter's response divided by its mean per-image maximum on the mining images (scores of different
filters become comparable). docs/features.md states where this simplifies the paper.

Shapes: positions (V, N, 2) float64 pixels (row, col); scores (V, N).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from attrbench.errors import CheckpointError
from attrbench.features.geometry import LayerGeometry, find_layer, one_output
from attrbench.hooks import capture_output

__all__ = [
    "GRAPH_FORMAT",
    "ExplanatoryGraph",
    "GraphLayer",
    "NodePositions",
    "capture_layers",
    "dataset_outputs",
    "expected_positions",
    "infer_positions",
    "layer_outputs",
    "positions_from_outputs",
    "load_graph",
    "locate",
    "responses",
    "save_graph",
    "squared_distances",
]

GRAPH_FORMAT = "attrbench-explanatory-graph/1"


@dataclass
class GraphLayer:
    """One level of the graph.

    Attributes:
        name: the layer's module name in the model.
        geometry: receptive-field geometry of its units.
        patterns: nodes per filter, n.
        scale: (C,) response normaliser per filter (mean per-image maximum when mined).
        anchors: (V, 2) absolute anchors mu_V (used in the top layer only).
        sigmas: (V,) sigma_V in pixels.
        parents: (V, M) long indices into the upper layer's nodes ((V, 0) in the top layer).
        offsets: (V, M, 2) displacements Delta_{U,V} in pixels.
    """

    name: str
    geometry: LayerGeometry
    patterns: int
    scale: Tensor
    anchors: Tensor
    sigmas: Tensor
    parents: Tensor
    offsets: Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.sigmas.numel())

    def filters(self) -> Tensor:
        """(V,) long: the filter of each node."""
        return torch.arange(self.num_nodes) // self.patterns


@dataclass
class ExplanatoryGraph:
    """The mined graph: its layers (top first), the model it explains and the mining options."""

    model: str
    input_size: tuple[int, int]
    layers: list[GraphLayer]
    options: dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> GraphLayer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(name)


@dataclass(frozen=True)
class NodePositions:
    """Inferred positions (V, N, 2) and scores (V, N) of one layer's nodes on N images."""

    layer: str
    positions: Tensor
    scores: Tensor


def responses(act: Tensor, scale: Tensor) -> Tensor:
    """(N, C, H', W') layer output -> (N, C, H'W') float64 responses max(F, 0) / scale."""
    return act.detach().double().clamp(min=0).flatten(2) / scale.double()[None, :, None]


def expected_positions(layer: GraphLayer, parent_positions: Tensor | None, num_images: int) -> Tensor:
    """m_V(I) (V, N, 2): the anchors in the top layer, parents' positions plus offsets below."""
    if layer.parents.shape[1] == 0 or parent_positions is None:
        return layer.anchors.double()[:, None, :].expand(-1, num_images, -1)
    gathered = parent_positions[layer.parents]  # (V, M, N, 2)
    return (gathered + layer.offsets.double()[:, :, None, :]).mean(dim=1)


def squared_distances(centres: Tensor, means: Tensor) -> Tensor:
    """(K, 2) centres, (..., 2) means -> (..., K) squared distances, without a (..., K, 2) temporary."""
    return (centres[:, 0] - means[..., 0, None]) ** 2 + (centres[:, 1] - means[..., 1, None]) ** 2


def locate(
    resp: Tensor, centres: Tensor, *, filters: Tensor, expected: Tensor, sigmas: Tensor, budget: int = 1 << 22
) -> tuple[Tensor, Tensor]:
    """p_V and S_V (see the module docstring) for every node.

    Args:
        resp: (N, C, K) responses at the K units; centres: (K, 2) unit centres (pixels).
        filters: (V,) filter per node; expected: (V, N, 2) prior means; sigmas: (V,).
        budget: elements per temporary (V', N, K) block.

    Returns:
        positions (V, N, 2) (a unit centre each), scores (V, N).
    """
    chunk = max(1, budget // max(1, resp.shape[0] * resp.shape[2]))
    positions, scores = [], []
    for s in range(0, filters.numel(), chunk):
        f, m, sig = filters[s : s + chunk], expected[s : s + chunk], sigmas[s : s + chunk].double()
        score = resp[:, f].transpose(0, 1) * torch.exp(-squared_distances(centres, m) / (2 * sig[:, None, None] ** 2))
        best, arg = score.max(dim=2)
        positions.append(centres[arg])
        scores.append(best)
    return torch.cat(positions), torch.cat(scores)


@contextmanager
def capture_layers(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, list[Tensor]]]:
    """Record the outputs of several layers during the block (hooks removed on exit)."""
    with ExitStack() as stack:
        yield {name: stack.enter_context(capture_output(find_layer(model, name))) for name in names}


def positions_from_outputs(graph: ExplanatoryGraph, outputs: dict[str, Tensor]) -> list[NodePositions]:
    """Node positions and scores, top layer first, from the graph layers' outputs (N, C, H', W')."""
    out: list[NodePositions] = []
    parent: Tensor | None = None
    for lay in graph.layers:
        act = outputs[lay.name]
        resp = responses(act, lay.scale.to(act.device)).cpu()
        expected = expected_positions(lay, parent, act.shape[0])
        pos, score = locate(resp, lay.geometry.centres(), filters=lay.filters(), expected=expected, sigmas=lay.sigmas)
        out.append(NodePositions(layer=lay.name, positions=pos, scores=score))
        parent = pos
    return out


@torch.no_grad()
def layer_outputs(model: nn.Module, images: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
    """The outputs of the layers ``names`` for ``images`` in one forward."""
    with capture_layers(model, names) as stores:
        model(images)
    return {name: one_output(stores[name], name) for name in names}


@torch.no_grad()
def dataset_outputs(model: nn.Module, batches: Iterable[Tensor], names: Sequence[str]) -> dict[str, Tensor]:
    """The outputs (N, C, H', W') float32 on the CPU of the layers ``names`` over all ``batches``
    (images (B, 3, H, W)), one forward per batch for all layers."""
    outputs: dict[str, list[Tensor]] = {name: [] for name in names}
    for images in batches:
        for name, act in layer_outputs(model, images, names).items():
            outputs[name].append(act.float().cpu())
    if not all(outputs.values()):
        raise ValueError("dataset_outputs: no batches")
    return {name: torch.cat(acts) for name, acts in outputs.items()}


def infer_positions(graph: ExplanatoryGraph, model: nn.Module, images: Tensor) -> list[NodePositions]:
    """Node positions and scores on ``images`` (N, 3, H, W), top layer first (one forward)."""
    return positions_from_outputs(graph, layer_outputs(model, images, [lay.name for lay in graph.layers]))


def save_graph(graph: ExplanatoryGraph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` (a torch file readable with ``weights_only=True``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layers = []
    for lay in graph.layers:
        entry = {k: v for k, v in vars(lay).items() if k != "geometry"}
        entry["geometry"] = {k: list(v) for k, v in asdict(lay.geometry).items()}
        layers.append(entry)
    payload = {"format": GRAPH_FORMAT, "model": graph.model, "input_size": list(graph.input_size),
               "options": graph.options, "layers": layers}  # fmt: skip
    torch.save(payload, path)
    return path


def load_graph(path: str | Path) -> ExplanatoryGraph:
    """Read a graph written by :func:`save_graph`.

    Raises:
        CheckpointError: missing, unreadable or not an explanatory-graph file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"--graph {path}: file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign file
        raise CheckpointError(f"--graph {path}: cannot read it ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != GRAPH_FORMAT:
        raise CheckpointError(f"--graph {path} is not an explanatory graph (expected format {GRAPH_FORMAT!r})")
    layers = []
    for entry in payload["layers"]:
        geo = LayerGeometry(**{k: tuple(v) for k, v in entry.pop("geometry").items()})
        layers.append(GraphLayer(geometry=geo, **entry))
    return ExplanatoryGraph(model=payload["model"], input_size=tuple(payload["input_size"]), layers=layers,
                            options=payload["options"])  # fmt: skip
