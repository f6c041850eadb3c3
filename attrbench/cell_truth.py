"""Cell truth: Shapley values of the explained logit over a grid of c x c input cells.

Players are the cells of a c x c grid laid over the image from the top-left corner (the last row
and column of cells may be partial). A coalition S keeps the pixels of its cells and replaces every
other pixel by the declared baseline b: v(S) = f_c(x_S + b_{-S}). The cell truth is the Shapley
value of v (Shapley, 1953); it sums to f_c(x) - f_c(b) (efficiency). See docs/ground-truth.md.

BagNets (Brendel & Bethge, ICLR 2019, arXiv 1904.00760) make this tractable: f_c = (1/N) sum_p l_p
and window p only sees the cells its q x q box touches, so by linearity and the null-player axiom

    phi(a) = (1/N) sum_{p touches a} phi_p(a),      phi_p = Shapley value of l_p over its own cells.

A window touches at most k cells per axis (k = 2, 3, 5 for q = 9, 17, 33 with c = 8). Give cell
(a, b) the "residue" player rho = (a mod k) * k + (b mod k). The k x k cells of any window have k^2
distinct residues, so a pattern T of residues (a periodic mask over the whole image: cell present
iff its residue is in T) shows every window a different subset of its cells, and every window
function l_p is a game on the k^2 residues in which residues without a cell in the window are null
players. One forward of ``patch_logits`` per pattern therefore evaluates every window at once:

    exact   (k^2 <= ``max_exact_players``): all 2^(k^2) patterns, phi_p = W v_p with the closed-form
            Shapley weights W; 16 forwards for q = 9, 512 for q = 17;
    sampled (otherwise, q = 33): ``permutations`` random orders of the residues, half of them the
            reverses of the other half (antithetic pairs); each order costs k^2 - 1 forwards (the
            empty and full patterns are shared) and gives one unbiased estimate X_t of every cell's
            value; the truth is the mean over pairs and ``stderr`` the standard error of that mean.

Any other ImageModel is the same computation with one "window" (the image logit) whose players are
all cells (residue = cell index): exact when the grid has at most ``max_exact_players`` cells,
otherwise sampled. Cells no window touches get 0 and ``covered`` False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from attrbench.models.common import ImageModel

__all__ = ["CellTruth", "cell_grid", "cell_sums", "cell_truth", "shapley_weights"]


@dataclass(frozen=True)
class CellTruth:
    """Cell-level Shapley values for a batch.

    Attributes:
        values: (B, Hc, Wc) float64 Shapley values; values.sum((1, 2)) == f_c(x) - f_c(b).
        stderr: (B, Hc, Wc) float64 standard error per cell (0 when ``exact``).
        covered: (Hc, Wc) bool, cells some output sees (others hold 0).
        cell: the cell side c in pixels.
        exact: True for full enumeration, False for permutation sampling.
        forwards: masked images evaluated per input image.
        permutations: sampled orders (0 when exact).
    """

    values: Tensor
    stderr: Tensor
    covered: Tensor
    cell: int
    exact: bool
    forwards: int
    permutations: int


@dataclass(frozen=True)
class _Game:
    """Residue players and where each output's players land on the cell grid."""

    players: int  # R
    residue: Tensor  # (Hc, Wc) long, the player of each cell
    cell_of: Tensor  # (O, R) long, flat cell index of output o's player rho, -1 if null
    weight: float  # weight of every output in the image logit (1/N or 1)


def cell_grid(size: tuple[int, int], *, cell: int) -> tuple[int, int]:
    """(Hc, Wc) = (ceil(H / c), ceil(W / c))."""
    if isinstance(cell, bool) or not isinstance(cell, int) or cell < 1:
        raise ValueError(f"cell truth: the cell side must be a positive integer, got {cell!r}")
    return -(-int(size[0]) // cell), -(-int(size[1]) // cell)


def cell_sums(maps: Tensor, *, cell: int, covered: Tensor | None = None) -> Tensor:
    """Bring a pixel map to the cell grid by the one rule: the sum of its pixels in each cell.

    Args:
        maps: (B, 1, H, W) or (B, H, W) pixel map.
        covered: optional (H, W) or (1, 1, H, W) bool; pixels outside it count for no cell.

    Returns:
        (B, Hc, Wc), same dtype.
    """
    m = maps[:, 0] if maps.ndim == 4 else maps
    if covered is not None:
        m = m * covered.reshape(m.shape[-2:]).to(m)
    hc, wc = cell_grid(tuple(m.shape[-2:]), cell=cell)
    pad = torch.nn.functional.pad(m, (0, wc * cell - m.shape[-1], 0, hc * cell - m.shape[-2]))
    return pad.reshape(m.shape[0], hc, cell, wc, cell).sum(dim=(2, 4))


def shapley_weights(players: int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """(2^R, R) matrix W with phi = v @ W for a game given on all 2^R coalitions (bit rho = player rho).

    W[S, rho] = (|S|-1)! (R-|S|)! / R! if rho in S, else -|S|! (R-|S|-1)! / R!.
    """
    subsets = torch.arange(2**players)
    member = (subsets.view(-1, 1) >> torch.arange(players).view(1, -1)) & 1 == 1
    size = member.sum(dim=1, keepdim=True)
    fact = [math.factorial(i) for i in range(players + 1)]
    plus = torch.tensor([fact[max(s - 1, 0)] * fact[players - s] / fact[players] for s in range(players + 1)], dtype=dtype)
    minus = torch.tensor([fact[s] * fact[max(players - s - 1, 0)] / fact[players] for s in range(players + 1)], dtype=dtype)
    return torch.where(member, plus[size], -minus[size])


def _bagnet_game(model: ImageModel, size: tuple[int, int], cell: int) -> _Game:
    q, s = int(model.spec.receptive_field), int(model.spec.rf_stride)  # type: ignore[arg-type]
    hc, wc = cell_grid(size, cell=cell)
    axes = []
    for extent in size:
        n = (extent - q) // s + 1
        first = [s * i // cell for i in range(n)]
        last = [(s * i + q - 1) // cell for i in range(n)]
        axes.append((first, last))
    k = max(l - f + 1 for first, last in axes for f, l in zip(first, last))
    rows, cols = torch.arange(hc).view(-1, 1), torch.arange(wc).view(1, -1)
    residue = (rows % k) * k + cols % k
    (fr, lr), (fc, lc) = axes
    cell_of = torch.full((len(fr), len(fc), k * k), -1, dtype=torch.long)
    for rho in range(k * k):
        ra, rb = divmod(rho, k)
        for i, (f, l) in enumerate(zip(fr, lr)):
            a = f + (ra - f) % k
            if a > l:
                continue
            b = torch.tensor([g + (rb - g) % k for g in fc])
            ok = b <= torch.tensor(lc)
            cell_of[i, :, rho] = torch.where(ok, a * wc + b, torch.full_like(b, -1))
    return _Game(players=k * k, residue=residue, cell_of=cell_of.view(-1, k * k), weight=1.0 / (len(fr) * len(fc)))


def _generic_game(size: tuple[int, int], cell: int) -> _Game:
    hc, wc = cell_grid(size, cell=cell)
    r = hc * wc
    return _Game(players=r, residue=torch.arange(r).view(hc, wc), cell_of=torch.arange(r).view(1, r), weight=1.0)


def _evaluate(model: ImageModel, inputs: Tensor, base: Tensor, labels: Tensor, game: _Game, patterns: Tensor,
              *, cell: int, max_batch: int) -> Tensor:  # fmt: skip
    """Outputs for every pattern: (P, R) bool -> (B, O, P) float64 (one masked forward per pattern and image)."""
    b, _, h, w = inputs.shape
    per_chunk = max(1, max_batch // b)
    residue = game.residue.to(inputs.device)
    out = []
    for start in range(0, patterns.shape[0], per_chunk):
        pat = patterns[start : start + per_chunk].to(inputs.device)
        cells = pat[:, residue]  # (P, Hc, Wc)
        pix = cells.repeat_interleave(cell, dim=1).repeat_interleave(cell, dim=2)[:, :h, :w]
        x = torch.where(pix[:, None, None], inputs[None], base[None]).reshape(-1, 3, h, w)
        lab = labels.repeat(pat.shape[0])
        if model.has_patch_logits:
            logits = model.patch_logits(x)
            val = logits.gather(3, lab.view(-1, 1, 1, 1).expand(*logits.shape[:3], 1)).flatten(1)
        else:
            val = model(x).gather(1, lab.view(-1, 1))
        out.append(val.to(torch.float64).view(pat.shape[0], b, -1))
    return torch.cat(out).permute(1, 2, 0)


def _to_cells(phi: Tensor, game: _Game, cells: int) -> Tensor:
    """(B, ..., O, R) output-level values -> (B, ..., cells) cell values (weighted, null players dropped)."""
    idx = torch.where(game.cell_of < 0, cells, game.cell_of).to(phi.device).flatten()
    lead = phi.shape[:-2]
    flat = phi.reshape(*lead, -1) * game.weight
    out = torch.zeros(*lead, cells + 1, dtype=phi.dtype, device=phi.device)
    return out.index_add_(out.ndim - 1, idx, flat)[..., :cells]


def _sampled(model: ImageModel, inputs: Tensor, base: Tensor, labels: Tensor, game: _Game, *, cell: int,
             permutations: int, seed: int, max_batch: int) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Antithetic permutation sampling: (mean, stderr) of per-pair cell estimates, both (B, cells)."""
    r, cells = game.players, game.residue.numel()
    gen = torch.Generator().manual_seed(seed)
    half = torch.stack([torch.randperm(r, generator=gen) for _ in range(permutations // 2)])
    perms = torch.cat([half, half.flip(1)])  # (T, R): pair t is (t, t + T/2)
    rank = torch.empty_like(perms).scatter_(1, perms, torch.arange(r).expand_as(perms))
    steps = torch.arange(1, r).view(1, -1, 1)
    prefixes = (rank.unsqueeze(1) < steps).reshape(-1, r)  # (T * (R-1), R)
    ends = torch.stack([torch.zeros(r, dtype=torch.bool), torch.ones(r, dtype=torch.bool)])
    v = _evaluate(model, inputs, base, labels, game, torch.cat([ends, prefixes]), cell=cell, max_batch=max_batch)
    bsz, outs = v.shape[:2]
    chain = torch.cat(
        [v[:, :, :1, None].expand(-1, -1, perms.shape[0], 1),
         v[:, :, 2:].reshape(bsz, outs, perms.shape[0], r - 1),
         v[:, :, 1:2, None].expand(-1, -1, perms.shape[0], 1)], dim=3,
    )  # fmt: skip  (B, O, T, R+1): values after 0..R players
    step_gain = chain.diff(dim=3)  # gain of the player added at each step
    marginal = step_gain.gather(3, rank.to(v.device).expand(bsz, outs, -1, -1))  # by player
    x = _to_cells(marginal.transpose(1, 2), game, cells)  # (B, T, cells)
    pairs = (x[:, : permutations // 2] + x[:, permutations // 2 :]) / 2
    se = pairs.std(dim=1) / math.sqrt(pairs.shape[1])
    return pairs.mean(dim=1), se


@torch.no_grad()
def cell_truth(
    model: ImageModel,
    inputs: Tensor,
    *,
    labels: Tensor,
    baseline: Tensor | float = 0.0,
    cell: int = 8,
    max_exact_players: int = 12,
    permutations: int = 64,
    seed: int = 0,
    max_batch: int = 256,
) -> CellTruth:
    """Shapley values of f_labels over c x c cells (module docstring).

    Args:
        model: any :class:`ImageModel`; BagNets (``has_patch_logits``) go through their windows.
        inputs: (B, 3, H, W) images in [0, 1].
        labels: (B,) explained classes.
        baseline: the fill of absent cells: a float or a (B|1, 3, H, W) tensor.
        cell: cell side c in pixels (default 8, the BagNet stride).
        max_exact_players: enumerate all 2^R coalitions when the game has R <= this many players.
        permutations: sampled orders when not exact (even, >= 4; antithetic pairs).
        seed: seed of the sampled orders.
        max_batch: the largest number of images sent through the model at once.

    Returns:
        :class:`CellTruth` with (B, Hc, Wc) values and standard errors.
    """
    size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
    game = _bagnet_game(model, size, cell) if model.has_patch_logits else _generic_game(size, cell)
    base = torch.full_like(inputs, float(baseline)) if not torch.is_tensor(baseline) else baseline.to(inputs).expand_as(inputs)
    labels = labels.long().to(inputs.device)
    hc, wc = cell_grid(size, cell=cell)
    r, cells = game.players, hc * wc
    covered = torch.zeros(cells + 1, dtype=torch.bool).index_fill_(0, torch.where(game.cell_of < 0, cells, game.cell_of).flatten(), True)[:cells]  # fmt: skip
    if r <= max_exact_players:
        patterns = (torch.arange(2**r).view(-1, 1) >> torch.arange(r).view(1, -1)) & 1 == 1
        v = _evaluate(model, inputs, base, labels, game, patterns, cell=cell, max_batch=max_batch)
        phi = v @ shapley_weights(r).to(v.device)  # (B, O, R)
        values, se, forwards, perms = _to_cells(phi, game, cells), None, 2**r, 0
    else:
        if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 4 or permutations % 2:
            raise ValueError(f"cell truth: permutations must be an even integer >= 4, got {permutations!r}")
        values, se = _sampled(model, inputs, base, labels, game, cell=cell, permutations=permutations, seed=seed,
                              max_batch=max_batch)  # fmt: skip
        forwards, perms = permutations * (r - 1) + 2, permutations
    se = torch.zeros_like(values) if se is None else se
    return CellTruth(
        values=values.view(-1, hc, wc), stderr=se.view(-1, hc, wc), covered=covered.view(hc, wc), cell=cell,
        exact=perms == 0, forwards=forwards, permutations=perms,
    )  # fmt: skip
