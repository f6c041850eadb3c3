"""Mining an explanatory graph, layer by layer and top-down, with an EM-style algorithm
(Zhang, Cao, Shi, Wu, Zhu, AAAI 2018, arXiv 1708.01785; model and inference in
:mod:`attrbench.features.explanatory_graph`; the equations and simplifications in docs/features.md).

Every unit x of filter d in image I is an "activation entity" of weight R_d(I, x). The n patterns
of a filter compete for the entities (E-step), with a background term tau:

    r_V(I, x) = G_V(I, x) / (sum_{V' of filter d} G_V'(I, x) + tau),
    G_V(I, x) = exp(-|x - m_V(I)|^2 / (2 sigma_V^2)).

The M-step is the closed-form weighted Gaussian update, with w = R_d r_V summed over images and units:

    shift_V   = sum w (x - m_V(I)) / sum w          (mu_V += shift_V, or Delta_{U,V} += shift_V)
    sigma_V^2 = sum w |x - m_V(I) - shift_V|^2 / (2 sum w), clipped to [sigma_min, sigma_max].

Edges (lower layers, before every M-step): V's M parents are the upper-layer nodes U whose
displacement d_{U,V}(I) = p_V(I) - p_U(I) varies least over the images, weighted by V's scores
S_V(I); Delta_{U,V} starts at the weighted mean displacement. A lower layer first runs ``warmup``
iterations with absolute anchors (as the top layer does throughout) to get positions to link.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from attrbench.errors import OptionError
from attrbench.features.explanatory_graph import (
    ExplanatoryGraph,
    GraphLayer,
    dataset_outputs,
    expected_positions,
    locate,
    responses,
    squared_distances,
)
from attrbench.features.geometry import LayerGeometry, layer_geometry

__all__ = ["MiningOptions", "em_step", "mine_graph", "mine_layers", "select_parents"]


@dataclass(frozen=True)
class MiningOptions:
    """Options of the mining (defaults in brackets; the paper's values in docs/features.md).

    Attributes:
        patterns: nodes per filter [4] (the paper: 40 in the lower two layers, 20 in the upper two).
        parents: parents per node, M [5] (the paper: 15).
        iterations: EM iterations per layer [10] (the paper: 20).
        warmup: absolute-anchor iterations of a lower layer before it is linked [3].
        tau: background term of the E-step [0.1] (the paper's tau).
        sigma_init, sigma_min, sigma_max: sigma as a fraction of the image side [0.15, 0.03, 0.3].
        seed: seed of the anchor initialisation [0].
    """

    patterns: int = 4
    parents: int = 5
    iterations: int = 10
    warmup: int = 3
    tau: float = 0.1
    sigma_init: float = 0.15
    sigma_min: float = 0.03
    sigma_max: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("patterns", "parents", "iterations"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0 or self.tau < 0:
            raise OptionError(f"--warmup and --tau must be >= 0, got {self.warmup}, {self.tau}")
        if not 0 < self.sigma_min <= self.sigma_init <= self.sigma_max:
            raise OptionError("sigmas must satisfy 0 < sigma_min <= sigma_init <= sigma_max")


def em_step(
    resp: Tensor, centres: Tensor, *, expected: Tensor, sigmas: Tensor, patterns: int, tau: float,
    sigma_bounds: tuple[float, float], budget: int = 1 << 22,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """One E-step and M-step for all nodes of a layer (see the module docstring).

    Args:
        resp: (N, C, K) responses; centres: (K, 2); expected: (V, N, 2) m_V(I), V = C * patterns.
        sigmas: (V,); sigma_bounds: (min, max) in pixels.

    Returns:
        shift (V, 2) and the new sigmas (V,); a node with no weight keeps shift 0 and its sigma.
    """
    n_img, n_filt, k = resp.shape
    step = max(1, budget // (patterns * n_img * k))
    c2 = (centres**2).sum(-1)
    shifts, new_sigmas = [], []
    for c0 in range(0, n_filt, step):
        c1 = min(n_filt, c0 + step)
        m = expected[c0 * patterns : c1 * patterns].reshape(c1 - c0, patterns, n_img, 2)
        sig = sigmas[c0 * patterns : c1 * patterns].double().reshape(c1 - c0, patterns, 1, 1)
        g = torch.exp(-squared_distances(centres, m) / (2 * sig**2))  # (c, n, N, K)
        w = resp[:, c0:c1].transpose(0, 1)[:, None] * g / (g.sum(1, keepdim=True) + tau)
        total = w.sum((2, 3))  # (c, n)
        w_img = w.sum(-1)  # (c, n, N)
        wx = torch.einsum("cnik,kd->cnid", w, centres)
        safe = total.clamp(min=1e-300)[..., None]
        shift = (wx.sum(2) - (w_img[..., None] * m).sum(2)) / safe  # (c, n, 2)
        moved = m + shift[:, :, None, :]
        sq = (w @ c2).sum(2) - 2 * (wx * moved).sum((2, 3)) + (w_img * (moved**2).sum(-1)).sum(2)
        var = sq.clamp(min=0) / (2 * total.clamp(min=1e-300))
        s_new = var.sqrt().clamp(*sigma_bounds)
        empty = total <= 0
        shift[empty] = 0.0
        s_new[empty] = sig[..., 0, 0][empty]
        shifts.append(shift.reshape(-1, 2))
        new_sigmas.append(s_new.reshape(-1))
    return torch.cat(shifts), torch.cat(new_sigmas)


def select_parents(positions: Tensor, scores: Tensor, upper: Tensor, *, parents: int) -> tuple[Tensor, Tensor]:
    """The ``parents`` upper nodes with the most stable displacement to each node.

    Args:
        positions: (V, N, 2) p_V; scores: (V, N) S_V (weights over images); upper: (U, N, 2) p_U.

    Returns:
        parents (V, M) long, sorted by variance (ties by index), and offsets (V, M, 2), the
        weighted mean displacements p_V - p_U.
    """
    w = scores.double().clamp(min=0)
    w = torch.where(w.sum(1, keepdim=True) > 0, w, torch.ones_like(w))
    w = w / w.sum(1, keepdim=True)  # (V, N)
    ev = torch.einsum("vn,vnd->vd", w, positions)
    eu = torch.einsum("vn,und->vud", w, upper)  # (V, U, 2)
    cross = (w[..., None] * positions).flatten(1) @ upper.flatten(1).T  # (V, U): E_w[p_V . p_U]
    var = (w * (positions**2).sum(-1)).sum(1)[:, None] - 2 * cross + w @ (upper**2).sum(-1).T
    var = var - ((ev[:, None, :] - eu) ** 2).sum(-1)
    m = min(parents, upper.shape[0])
    order = torch.sort(var, dim=1, stable=True).indices[:, :m]
    offsets = ev[:, None, :] - eu.gather(1, order[..., None].expand(-1, -1, 2))
    return order, offsets


def _init_anchors(resp: Tensor, centres: Tensor, patterns: int, gen: torch.Generator) -> Tensor:
    """(C * n, 2): per filter, n unit centres drawn k-means++ style (Arthur & Vassilvitskii, SODA 2007):
    the first with probability ~ the filter's mean response, each next one ~ mean response times
    the squared distance to the nearest centre drawn so far (so the patterns start apart)."""
    prob = resp.mean(0) + 1e-12  # (C, K)
    if patterns > prob.shape[1]:
        raise OptionError(f"--patterns {patterns} exceeds the {prob.shape[1]} units of a feature map")
    chosen = [torch.multinomial(prob.float(), 1, generator=gen)[:, 0]]
    nearest = torch.full_like(prob, float("inf"))
    for _ in range(1, patterns):
        d2 = ((centres[None] - centres[chosen[-1]][:, None]) ** 2).sum(-1)  # (C, K)
        nearest = torch.minimum(nearest, d2)
        chosen.append(torch.multinomial((prob * nearest + 1e-30).float(), 1, generator=gen)[:, 0])
    return centres[torch.stack(chosen, 1)].reshape(-1, 2)


def _mine_one(
    act: Tensor, geometry: LayerGeometry, *, upper: Tensor | None, opts: MiningOptions, side: float,
    gen: torch.Generator, name: str,
) -> tuple[GraphLayer, Tensor]:  # fmt: skip
    """Mine one layer given the upper layer's node positions (None for the top layer)."""
    n_img, n_filt = act.shape[:2]
    scale = act.double().clamp(min=0).flatten(2).amax(2).mean(0)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    resp, centres = responses(act, scale), geometry.centres()
    v = n_filt * opts.patterns
    lay = GraphLayer(name=name, geometry=geometry, patterns=opts.patterns, scale=scale.float(),
                     anchors=_init_anchors(resp, centres, opts.patterns, gen),
                     sigmas=torch.full((v,), opts.sigma_init * side, dtype=torch.float64),
                     parents=torch.zeros(v, 0, dtype=torch.long), offsets=torch.zeros(v, 0, 2, dtype=torch.float64))  # fmt: skip
    bounds = (opts.sigma_min * side, opts.sigma_max * side)
    absolute = opts.iterations if upper is None else opts.warmup
    for _ in range(absolute):
        expected = expected_positions(lay, None, n_img)
        shift, lay.sigmas = em_step(resp, centres, expected=expected, sigmas=lay.sigmas, patterns=opts.patterns,
                                    tau=opts.tau, sigma_bounds=bounds)  # fmt: skip
        lay.anchors = lay.anchors + shift
    for _ in range(0 if upper is None else opts.iterations):
        expected = expected_positions(lay, upper, n_img)
        pos, score = locate(resp, centres, filters=lay.filters(), expected=expected, sigmas=lay.sigmas)
        lay.parents, lay.offsets = select_parents(pos, score, upper, parents=opts.parents)
        expected = expected_positions(lay, upper, n_img)
        shift, lay.sigmas = em_step(resp, centres, expected=expected, sigmas=lay.sigmas, patterns=opts.patterns,
                                    tau=opts.tau, sigma_bounds=bounds)  # fmt: skip
        lay.offsets = lay.offsets + shift[:, None, :]
    pos, _ = locate(resp, centres, filters=lay.filters(), expected=expected_positions(lay, upper, n_img),
                    sigmas=lay.sigmas)  # fmt: skip
    return lay, pos


def mine_layers(
    activations: Sequence[tuple[str, Tensor, LayerGeometry]], *, options: MiningOptions, input_size: tuple[int, int]
) -> list[GraphLayer]:
    """Mine the graph from recorded layer outputs, given **top layer first**.

    Args:
        activations: (name, (N, C, H', W') output on the mining images, geometry) per layer.
        options: the mining options; input_size: (H, W) of the images (sigmas scale with min(H, W)).
    """
    gen = torch.Generator().manual_seed(options.seed)
    side = float(min(input_size))
    layers, upper = [], None
    for name, act, geometry in activations:
        if tuple(act.shape[-2:]) != geometry.grid:
            raise OptionError(f"layer {name!r}: output grid {tuple(act.shape[-2:])} != geometry {geometry.grid}")
        lay, upper = _mine_one(act, geometry, upper=upper, opts=options, side=side, gen=gen, name=name)
        layers.append(lay)
    return layers


@torch.no_grad()
def mine_graph(
    model: nn.Module,
    batches: Iterable[Tensor],
    *,
    layers: Sequence[str],
    model_name: str,
    input_size: tuple[int, int],
    options: MiningOptions | None = None,
) -> ExplanatoryGraph:
    """Mine an explanatory graph of ``model`` on the images of ``batches``.

    Args:
        model: the CNN (eval mode); batches: image tensors (B, 3, H, W).
        layers: module names from **low to high** (the graph is mined from the last one down).
        model_name: how to load the model again (name, path or ``module:factory``), stored in the graph.
        input_size: (H, W) of the images.
        options: :class:`MiningOptions`.
    """
    options = options or MiningOptions()
    if len(set(layers)) != len(layers) or not layers:
        raise OptionError(f"--layers must name distinct layers, got {list(layers)}")
    outputs = dataset_outputs(model, batches, layers)
    acts = [(name, outputs[name], layer_geometry(model, layer=name, input_size=input_size)) for name in reversed(layers)]
    mined = mine_layers(acts, options=options, input_size=input_size)
    opts = {**asdict(options), "images": int(acts[0][1].shape[0]), "sigma_unit_px": float(min(input_size))}
    if not math.isfinite(sum(float(lay.sigmas.sum()) for lay in mined)):
        raise ValueError("mining produced non-finite sigmas")
    return ExplanatoryGraph(model=model_name, input_size=tuple(input_size), layers=mined, options=opts)
