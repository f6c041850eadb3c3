"""Exact incremental deletion / insertion curves on BagNets (locality of the patch logits).

A BagNet (Brendel & Bethge, ICLR 2019, arXiv 1904.00760) has no padding, so the feature vector
A_p of position p = (i, j) depends only on the q x q pixel window rows [s*i, s*i + q), columns
[s*j, s*j + q) (s = stride), and the image logit is fc(mean_p A_p). A perturbation curve changes
one set of units per step, so after step t only positions whose window touches the units of step t
change; all others keep their value from step t - 1.

Algorithm (docs/incremental_curves.md):

1. A^0 = features of the first curve image (the image for deletion, the fill image for insertion),
   one full forward per sample.
2. Every unit u gets one *window*: the P_h x P_w positions starting at the first position that
   touches u (clamped into the grid), P = the largest number of positions any unit touches. Its
   pixel crop, s*(P - 1) + q on a side, is cut from the image of the step at which u changes
   (known up front from the ranks), so the windows of all steps are batched through the patch
   network in chunks.
3. Walking the steps in order, the window features of step t overwrite their positions in A
   (every written value is exact for x_t: the crop is x_t's own content), and the curve point is
   fc(mean_p A^t_p).

Equal to the full re-forward up to floating-point reassociation (tests: 1e-10 in float64, 1e-5 in
float32). Units whose pixels no window sees (uncovered border) change nothing and get no window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from attrbench.models.bagnet import BagNet
from attrbench.models.common import ImageModel

__all__ = ["BagNetParts", "bagnet_parts", "incremental_cost_ratio", "incremental_curve_outputs", "unit_windows"]


@dataclass(frozen=True)
class BagNetParts:
    """A model split into a pointwise pre-processing and a BagNet.

    Attributes:
        net: the BagNet (eval mode).
        pre: pixel-wise map applied before ``net`` (the wrapper's normalisation, or identity).
    """

    net: BagNet
    pre: Callable[[Tensor], Tensor]


def _identity(x: Tensor) -> Tensor:
    return x


def bagnet_parts(model: nn.Module) -> BagNetParts | None:
    """The BagNet inside ``model`` if its output is exactly ``net(pre(x))`` in eval mode, else None.

    Recognised: a :class:`BagNet` and an :class:`ImageModel` wrapping one (its ``normalize`` is
    pixel-wise, so it commutes with cropping). Training mode (batch statistics) is not local.
    """
    if type(model) is BagNet:
        net, pre = model, _identity
    elif type(model) is ImageModel and type(model.net) is BagNet:
        net, pre = model.net, model.normalize
    else:
        return None
    if model.training or net.training:
        return None
    return BagNetParts(net=net, pre=pre)


@dataclass(frozen=True)
class UnitWindows:
    """Window geometry for the units of a (H, W) image.

    Attributes:
        grid: positions (H', W').
        size: positions per window (P_h, P_w).
        crop: pixels per window crop (rows, cols).
        start: (U, 2) int64 first position (i0, j0) of each unit's window.
        live: (U,) bool, the unit is seen by at least one position.
    """

    grid: tuple[int, int]
    size: tuple[int, int]
    crop: tuple[int, int]
    start: Tensor
    live: Tensor


def _axis(length: int, unit: int, q: int, s: int, n_pos: int) -> tuple[Tensor, Tensor, int]:
    """Per unit along one axis: clamped window start, liveness, window length in positions."""
    n_units = -(-length // unit)
    r0 = torch.arange(n_units) * unit
    r1 = torch.clamp(r0 + unit, max=length) - 1
    lo = torch.clamp(-torch.div(-(r0 - q + 1), s, rounding_mode="floor"), min=0)  # ceil((r0 - q + 1) / s)
    hi = torch.clamp(torch.div(r1, s, rounding_mode="floor"), max=n_pos - 1)
    live = lo <= hi
    span = int((hi - lo + 1)[live].max()) if bool(live.any()) else 1
    start = torch.clamp(torch.minimum(lo, torch.tensor(n_pos - span)), min=0)
    return start, live, span


def unit_windows(*, net: BagNet, height: int, width: int, unit: int) -> UnitWindows:
    """Window geometry of every unit (row-major unit index, as :func:`unit_ranks`)."""
    q, s = net.rf.size, net.rf.stride
    gh, gw = net.rf.grid(height, width)
    si, li, ph = _axis(height, unit, q, s, gh)
    sj, lj, pw = _axis(width, unit, q, s, gw)
    start = torch.stack(torch.broadcast_tensors(si.view(-1, 1), sj.view(1, -1)), dim=-1).reshape(-1, 2)
    live = (li.view(-1, 1) & lj.view(1, -1)).flatten()
    return UnitWindows(grid=(gh, gw), size=(ph, pw), crop=(s * (ph - 1) + q, s * (pw - 1) + q), start=start, live=live)


def incremental_cost_ratio(*, net: BagNet, height: int, width: int, unit: int, counts: list[int]) -> float:
    """Pixels sent through the network incrementally / by full re-forwards (steps after the first).

    A proxy for the FLOP ratio (BagNet convolutions cost about the same per input pixel).
    """
    win = unit_windows(net=net, height=height, width=width, unit=unit)
    incremental = int(win.live.sum()) * win.crop[0] * win.crop[1]
    full = (len(counts) - 1) * height * width
    return incremental / max(full, 1)


def _crops(images: Tensor, b: Tensor, r0: Tensor, c0: Tensor, crop: tuple[int, int]) -> Tensor:
    """(n, C, ch, cw) crops of ``images[b]`` at pixel offsets (r0, c0)."""
    rows = (r0.view(-1, 1) + torch.arange(crop[0], device=images.device)).view(-1, crop[0], 1)
    cols = (c0.view(-1, 1) + torch.arange(crop[1], device=images.device)).view(-1, 1, crop[1])
    return images[b.view(-1, 1, 1), :, rows, cols].permute(0, 3, 1, 2)


def _step_groups(steps: Tensor, cap: int) -> list[list[tuple[int, int, int]]]:
    """Runs of equal steps grouped into at most ``cap`` windows when possible.

    Args:
        steps: (n,) step of each window, sorted.
        cap: windows per group (a single step with more windows is a group of its own).

    Returns:
        groups of runs (step, first window, end window), in order; computed on the host from one
        transfer, so the per-step loop over them never waits for the device.
    """
    if steps.numel() == 0:
        return []
    values, sizes = torch.unique_consecutive(steps, return_counts=True)
    ends = sizes.cumsum(0)
    vals, stops = torch.stack([values, ends]).tolist()  # one transfer for every step
    groups: list[list[tuple[int, int, int]]] = [[]]
    start = group_start = 0
    for t, stop in zip(vals, stops):
        if groups[-1] and stop - group_start > cap:
            groups.append([])
            group_start = start
        groups[-1].append((int(t), start, int(stop)))
        start = int(stop)
    return groups


def _window_jobs(live: Tensor, ranks: Tensor, counts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(sample, unit, step) of every window, sorted by step; units changing after the last point dropped."""
    ids = live.nonzero().flatten()  # (U',) units some position sees
    samp = torch.arange(ranks.shape[0], device=ranks.device).repeat_interleave(len(ids))
    uid = ids.repeat(ranks.shape[0])
    step = torch.searchsorted(counts, ranks[samp, uid].contiguous(), right=True)
    inside = step < len(counts)
    samp, uid, step = samp[inside], uid[inside], step[inside]
    order = torch.argsort(step, stable=True)
    return samp[order], uid[order], step[order]


def _window_images(
    images: Tensor, fill_x: Tensor, rank_pix: Tensor, samp: Tensor, corner: Tensor, count: Tensor, crop: tuple[int, int], mode: str
) -> Tensor:
    """(n, C, ch, cw) crops at pixel corners (n, 2) of each window's own curve image.

    A pixel is perturbed when its unit's rank is below the window step's unit ``count`` (n,).
    """
    img = _crops(images, samp, corner[:, 0], corner[:, 1], crop)
    fil = _crops(fill_x, samp, corner[:, 0], corner[:, 1], crop)
    rk = _crops(rank_pix.unsqueeze(1), samp, corner[:, 0], corner[:, 1], crop)
    hit = rk < count.view(-1, 1, 1, 1)
    return torch.where(hit, fil, img) if mode == "deletion" else torch.where(hit, img, fil)


@torch.no_grad()
def incremental_curve_outputs(
    *,
    parts: BagNetParts,
    images: Tensor,
    fill_x: Tensor,
    ranks: Tensor,
    unit: int,
    counts: list[int],
    mode: str,
    chunk: int = 16,
    group_windows: int = 512,
) -> Tensor:
    """Model outputs at every curve point, computed incrementally.

    Long: one pass over the windows whose state (features, running sums) is shared by every step.

    Args:
        parts: from :func:`bagnet_parts`.
        images: (B, C, H, W) pixel-space images.
        fill_x: (B, C, H, W) fill content (broadcast views are fine).
        ranks: (B, U) int64 unit ranks (0 = perturbed first), units row-major on the unit grid.
        unit: unit side in pixels.
        counts: K unit counts, increasing, starting at 0 (a curve may stop before all U units).
        mode: "deletion" (top units take the fill) or "insertion" (top units keep the image).
        chunk: window crops per patch-network forward.
        group_windows: windows whose features are held at once (memory bound).

    Returns:
        (B, K, num_classes) outputs, the same as ``model(x_t)`` for each curve image x_t.
    """
    net, b, (h, w) = parts.net, images.shape[0], images.shape[-2:]
    dev = images.device
    win = unit_windows(net=net, height=h, width=w, unit=unit)
    (gh, gw), (ph, pw), s = win.grid, win.size, net.rf.stride
    first = images if mode == "deletion" else fill_x
    feats = torch.cat([net.features(parts.pre(first[i : i + chunk])) for i in range(0, b, chunk)])
    state = feats.permute(0, 2, 3, 1).reshape(b * gh * gw, -1).clone()  # A^0, (B * N, F)
    means = torch.empty(b, len(counts), state.shape[1], dtype=state.dtype, device=dev)
    means[:, 0] = state.view(b, gh * gw, -1).mean(dim=1)
    hu, wu = -(-h // unit), -(-w // unit)
    rank_pix = ranks.view(b, hu, 1, wu, 1).expand(b, hu, unit, wu, unit).reshape(b, hu * unit, wu * unit)[:, :h, :w]
    counts_t = torch.tensor(counts, device=dev)
    samp, uid, step = _window_jobs(win.live.to(dev), ranks, counts_t)
    start = win.start.to(dev)[uid]
    di, dj = torch.arange(ph, device=dev).view(ph, 1), torch.arange(pw, device=dev).view(1, pw)
    done = 0
    for runs in _step_groups(step, max(1, group_windows)):
        a, z = runs[0][1], runs[-1][2]
        g_feats = []
        for c in range(a, z, max(1, chunk)):
            sl = slice(c, min(c + chunk, z))
            x = _window_images(images, fill_x, rank_pix, samp[sl], start[sl] * s, counts_t[step[sl]], win.crop, mode)
            g_feats.append(net.features(parts.pre(x)).permute(0, 2, 3, 1))
        g = torch.cat(g_feats)  # (n, P_h, P_w, F); flat positions (n, P_h, P_w) in the state below
        pos = (samp[a:z].view(-1, 1, 1) * gh + start[a:z, 0].view(-1, 1, 1) + di) * gw + start[a:z, 1].view(-1, 1, 1) + dj
        for t, lo, hi in runs:  # the windows of step t are rows lo - a .. hi - a of the group
            means[:, done + 1 : t] = means[:, done : done + 1]  # steps without live units
            state[pos[lo - a : hi - a].flatten()] = g[lo - a : hi - a].reshape(-1, g.shape[-1])
            means[:, t] = state.view(b, gh * gw, -1).mean(dim=1)
            done = t
    means[:, done + 1 :] = means[:, done : done + 1]
    return net.fc(means)
