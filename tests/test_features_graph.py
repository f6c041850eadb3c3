"""Explanatory-graph mining on planted patterns (feature maps by construction, no CNN)."""

from __future__ import annotations

import pytest
import torch

from attrbench.errors import CheckpointError, OptionError
from attrbench.features.explanatory_graph import ExplanatoryGraph, expected_positions, load_graph, locate, responses, save_graph
from attrbench.features.geometry import LayerGeometry
from attrbench.features.graph_mining import MiningOptions, em_step, mine_layers, select_parents

SIDE = 32
GEO = LayerGeometry(size=(1, 1), stride=(1, 1), offset=(0, 0), grid=(SIDE, SIDE))  # unit (i, j) = pixel (i, j)


def _bumps(n_img: int, centres_per_filter: list[torch.Tensor], amplitudes: list[torch.Tensor]) -> torch.Tensor:
    """(N, C, SIDE, SIDE) maps; filter c has a one-pixel bump of amplitude a at each of its centres."""
    maps = torch.zeros(n_img, len(centres_per_filter), SIDE, SIDE, dtype=torch.float64)
    for c, (pts, amps) in enumerate(zip(centres_per_filter, amplitudes)):
        for k in range(pts.shape[1]):  # pts (N, k, 2) long, amps (N, k)
            maps[torch.arange(n_img), c, pts[:, k, 0], pts[:, k, 1]] += amps[:, k]
    return maps


def test_em_step_is_the_weighted_gaussian_update_in_closed_form() -> None:
    # One node, one image, tau = 0: two entities of weight 1 and 3 at (0, 0) and (0, 4), prior mean
    # (0, 0): shift = (0, 3); variance around (0, 3): (1 * 9 + 3 * 1) / (2 * 4) = 1.5.
    resp = torch.zeros(1, 1, 5, dtype=torch.float64)
    resp[0, 0, 0], resp[0, 0, 4] = 1.0, 3.0
    centres = torch.tensor([[0.0, float(j)] for j in range(5)], dtype=torch.float64)
    shift, sigma = em_step(resp, centres, expected=torch.zeros(1, 1, 2, dtype=torch.float64),
                           sigmas=torch.tensor([1e6], dtype=torch.float64), patterns=1, tau=0.0,
                           sigma_bounds=(0.01, 100.0))  # fmt: skip
    torch.testing.assert_close(shift, torch.tensor([[0.0, 3.0]], dtype=torch.float64), rtol=0, atol=1e-9)
    torch.testing.assert_close(sigma, torch.tensor([1.5**0.5], dtype=torch.float64), rtol=0, atol=1e-9)


def test_top_layer_em_recovers_two_planted_absolute_patterns() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 40
    planted = torch.tensor([[6, 8], [22, 25]])
    pts = planted[None].expand(n, -1, -1) + torch.randint(-1, 2, (n, 2, 2), generator=gen)  # +-1 px jitter
    amps = torch.rand(n, 2, generator=gen) + 0.5
    act = _bumps(n, [pts], [amps])
    (layer,) = mine_layers([("top", act, GEO)], options=MiningOptions(patterns=2, iterations=15), input_size=(SIDE, SIDE))
    got = sorted(layer.anchors.tolist())
    mean_pts = pts.double().mul(amps[..., None].double()).sum(0) / amps.double().sum(0)[:, None]
    torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), mean_pts, rtol=0, atol=0.05)


def test_two_layer_mining_recovers_planted_parts_relative_to_a_moving_object() -> None:
    # The "object" moves (uniform per image); the top filter 0 fires at the object, top filter 1 at an
    # unrelated random place. The lower filter fires at two parts, object + (-5, -4) and object + (6, 5),
    # with random amplitudes, so its raw peak jumps between the parts.
    gen = torch.Generator().manual_seed(1)
    n = 60
    obj = torch.randint(9, 23, (n, 1, 2), generator=gen)
    noise = torch.randint(0, SIDE, (n, 1, 2), generator=gen)
    a, b = torch.tensor([-5, -4]), torch.tensor([6, 5])
    top = _bumps(n, [obj, noise], [torch.ones(n, 1), torch.ones(n, 1)])
    low = _bumps(n, [torch.cat([obj + a, obj + b], 1)], [torch.rand(n, 2, generator=gen) + 0.5])
    opts = MiningOptions(patterns=2, parents=1, iterations=8, warmup=3)
    top_layer, low_layer = mine_layers([("top", top, GEO), ("low", low, GEO)], options=opts, input_size=(SIDE, SIDE))
    # the node that explains the object (filter 0) is every lower node's parent
    object_node = int(torch.where(top_layer.filters() == 0)[0][top_layer.sigmas[:2].argmin()])
    # positions: inferred top-down exactly at the planted parts
    top_pos, _ = locate(responses(top, top_layer.scale), GEO.centres(), filters=top_layer.filters(),
                        expected=expected_positions(top_layer, None, n), sigmas=top_layer.sigmas)  # fmt: skip
    assert torch.equal(top_pos[object_node], obj[:, 0].double())
    assert low_layer.parents[:, 0].tolist() == [object_node, object_node]
    offsets = sorted(low_layer.offsets[:, 0].tolist())
    torch.testing.assert_close(torch.tensor(offsets, dtype=torch.float64), torch.stack([a, b]).double(), rtol=0, atol=1e-6)
    low_pos, _ = locate(responses(low, low_layer.scale), GEO.centres(), filters=low_layer.filters(),
                        expected=expected_positions(low_layer, top_pos, n), sigmas=low_layer.sigmas)  # fmt: skip
    planted = {tuple(torch.round(o).long().tolist()): p for o, p in zip(low_layer.offsets[:, 0], low_pos)}
    assert torch.equal(planted[tuple(a.tolist())], (obj[:, 0] + a).double())
    assert torch.equal(planted[tuple(b.tolist())], (obj[:, 0] + b).double())


def test_select_parents_prefers_the_stable_displacement() -> None:
    # node positions p = u0 + (2, 3) exactly; candidate u1 is unrelated: u0 is chosen, offset (2, 3).
    gen = torch.Generator().manual_seed(2)
    u = torch.rand(2, 10, 2, generator=gen, dtype=torch.float64) * 20
    p = (u[0] + torch.tensor([2.0, 3.0], dtype=torch.float64))[None]
    parents, offsets = select_parents(p, torch.ones(1, 10), u, parents=1)
    assert parents.tolist() == [[0]]
    torch.testing.assert_close(offsets, torch.tensor([[[2.0, 3.0]]], dtype=torch.float64), rtol=0, atol=1e-9)


def test_graph_file_round_trip_and_errors(tmp_path) -> None:
    act = _bumps(5, [torch.full((5, 1, 2), 4)], [torch.ones(5, 1)])
    layers = mine_layers([("top", act, GEO)], options=MiningOptions(patterns=1, iterations=2), input_size=(SIDE, SIDE))
    graph = ExplanatoryGraph(model="m", input_size=(SIDE, SIDE), layers=layers, options={"patterns": 1})
    back = load_graph(save_graph(graph, tmp_path / "g.pt"))
    assert back.model == "m" and back.layers[0].geometry == GEO
    torch.testing.assert_close(back.layers[0].anchors, layers[0].anchors, rtol=0, atol=0)
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an explanatory graph"):
        load_graph(tmp_path / "other.pt")
    with pytest.raises(OptionError, match="patterns"):
        MiningOptions(patterns=0)
