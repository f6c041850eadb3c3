"""Do networks need the global arrangement of an image? Accuracy on tile-scrambled images (Brendel & Bethge, ICLR 2019).

    attrbench experiment bagnet-scrambling [--dataset synthbirds] [--n-images 400] [--tiles 8,16,24,32,48]

Scrambling with tile side t: the image is cut into t x t tiles from the top-left corner; the full
tiles (those inside the image) are permuted at random, one seeded permutation per image; the rows
and columns of the border that do not fill a tile stay in place. The table gives top-1 and top-k
accuracy (k = min(5, classes); Wilson 95 % intervals) per model and t, with t = "none" the
unscrambled images.

What a BagNet keeps (tested): let a BagNet have receptive field q and stride s (patch p sees the
q x q window at (s i, s j)), and let t be a multiple of s with t >= q. Call a position *interior*
when its window lies inside one full tile. Moving a tile by a multiple of s carries its interior
windows to interior windows of the same content, so the multiset of interior patch logits
{l_p(x') : p interior} equals {l_p(x) : p interior}, exactly, and

    f(x') - f(x) = (1/N) sum_{p not interior} (l_p(x') - l_p(x)),

the change comes only from windows that straddle a tile border (or lie in the unscrambled
border). The table's "interior share" is |interior| / N for BagNets: the part of the logit that
is invariant; it grows to 1 as t grows past q. "aligned t >= q" marks the BagNet rows where t is a
multiple of the stride and t >= q; "same top-1" is the share of images whose predicted class the
scrambling leaves unchanged.

Outputs (``--out``, default results/bagnet/scrambling): scrambling.{csv,md,tex},
scrambling.{png,pdf}, examples.{png,pdf} (one image scrambled at each t), command.txt.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from attrbench.errors import OptionError
from attrbench.experiments.bagnet.options import add_common_arguments

if TYPE_CHECKING:  # torch loads inside the functions: ``attrbench --help`` must stay light
    import torch
    from torch import Tensor

__all__ = ["add_arguments", "interior_positions", "main", "scramble", "tile_grid"]

DEFAULT_TILES = "8,16,24,32,48"


def tile_grid(*, height: int, width: int, tile: int) -> tuple[int, int]:
    """Number of full tiles (rows, columns)."""
    if tile < 1:
        raise OptionError(f"--tiles: a tile side must be positive, got {tile}")
    return height // tile, width // tile


def scramble(images: Tensor, *, tile: int, generator: torch.Generator) -> Tensor:
    """``images`` (B, C, H, W) with their full ``tile`` x ``tile`` tiles permuted (one permutation per image).

    Tile k (row-major) of the result is tile ``perm[k]`` of the input; the border that does not fill
    a tile is copied unchanged.
    """
    import torch

    b, c, h, w = images.shape
    th, tw = tile_grid(height=h, width=w, tile=tile)
    out = images.clone()
    if th * tw < 2:
        return out
    body = images[:, :, : th * tile, : tw * tile]
    tiles = body.reshape(b, c, th, tile, tw, tile).permute(0, 2, 4, 1, 3, 5).reshape(b, th * tw, c, tile, tile)
    perms = torch.stack([torch.randperm(th * tw, generator=generator) for _ in range(b)]).to(images.device)
    moved = tiles[torch.arange(b, device=images.device)[:, None], perms]
    moved = moved.reshape(b, th, tw, c, tile, tile).permute(0, 3, 1, 4, 2, 5).reshape(b, c, th * tile, tw * tile)
    out[:, :, : th * tile, : tw * tile] = moved
    return out


def interior_positions(*, grid: tuple[int, int], q: int, stride: int, tile: int,
                       size: tuple[int, int]) -> Tensor:  # fmt: skip
    """(H', W') bool: patch windows lying inside one full tile (module docstring)."""
    import torch

    def axis(n_pos: int, n_pix: int) -> Tensor:
        full = n_pix // tile
        starts = torch.arange(n_pos) * stride
        k = starts // tile
        return (k < full) & (starts + q <= (k + 1) * tile)

    return axis(grid[0], size[0])[:, None] & axis(grid[1], size[1])[None, :]


def _topk(logits: Tensor, labels: Tensor, k: int) -> Tensor:
    return (logits.topk(min(k, logits.shape[1]), dim=1).indices == labels[:, None]).any(dim=1)


def _rows(name: str, model, images: Tensor, labels: Tensor, *, tiles: list[int], seed: int,  # noqa: ANN001
          batch_size: int, base: Tensor) -> list[dict]:  # fmt: skip
    import torch

    from attrbench.experiments.bagnet.common import batched_logits
    from attrbench.stats import wilson_ci

    rows = []
    k = min(5, int(model.spec.num_outputs))
    q = model.spec.receptive_field if model.has_patch_logits else None
    for tile in [0, *tiles]:
        g = torch.Generator().manual_seed(seed * 1000 + tile)
        x = images if tile == 0 else scramble(images, tile=tile, generator=g)
        logits = base if tile == 0 else batched_logits(model, x, batch_size=batch_size)
        hits1, hitsk = _topk(logits, labels, 1), _topk(logits, labels, k)
        a1, lo1, hi1 = wilson_ci(successes=int(hits1.sum()), n=len(labels))
        ak, _, _ = wilson_ci(successes=int(hitsk.sum()), n=len(labels))
        share, aligned = float("nan"), False
        if q is not None and tile:
            aligned = tile % int(model.spec.rf_stride) == 0 and tile >= q
            size = tuple(images.shape[-2:])
            rf_stride = int(model.spec.rf_stride)
            grid = ((size[0] - q) // rf_stride + 1, (size[1] - q) // rf_stride + 1)
            share = float(interior_positions(grid=grid, q=q, stride=rf_stride, tile=tile, size=size).double().mean())
        rows.append({"model": name, "tile (px)": "none" if tile == 0 else str(tile), "images": len(labels),
                     "top-1": a1, "top-1 ci low": lo1, "top-1 ci high": hi1, f"top-{k}": ak,
                     "same top-1": float((logits.argmax(1) == base.argmax(1)).double().mean()),
                     "bagnet interior share": share, "aligned t >= q": aligned})  # fmt: skip
    return rows


def _figure(table, *, out) -> None:  # noqa: ANN001
    from attrbench.experiments.bagnet.outputs import figure, save_figure

    fig, axes = figure(size=(5.0, 3.4))
    ax = axes[0, 0]
    for model, group in table.groupby("model", sort=False):
        xs = [0 if t == "none" else int(t) for t in group["tile (px)"]]
        ax.plot(xs, group["top-1"], marker="o", label=model)
    ax.set_xlabel("tile side t (px); 0 = unscrambled")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title("Accuracy on tile-scrambled images", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out=out, name="scrambling")


def _examples(image: Tensor, *, tiles: list[int], seed: int, out) -> None:  # noqa: ANN001
    import torch

    from attrbench.experiments.bagnet.outputs import figure, save_figure

    fig, axes = figure(ncols=1 + len(tiles), size=(1.6 * (1 + len(tiles)), 1.9))
    for ax, tile in zip(axes[0], [0, *tiles]):
        x = image[None] if tile == 0 else scramble(image[None], tile=tile, generator=torch.Generator().manual_seed(seed))
        ax.imshow(x[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy())
        ax.set_title("original" if tile == 0 else f"t = {tile}", fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, out=out, name="examples")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``attrbench experiment bagnet-scrambling``."""
    add_common_arguments(p, n_images=400, out="results/bagnet/scrambling")
    p.add_argument("--tiles", default=DEFAULT_TILES, help=f"tile sides t in pixels (default {DEFAULT_TILES})")


def main(args: argparse.Namespace) -> int:
    """Accuracy of every model on the sample, unscrambled and scrambled at every tile side."""
    from attrbench.experiments.bagnet.common import model_rows, open_setup, output_dir
    from attrbench.experiments.bagnet.interaction import parse_sizes
    from attrbench.experiments.bagnet.outputs import finish

    tiles = parse_sizes(args.tiles, option="--tiles")
    setup = open_setup(args)
    out = output_dir(args.out)
    table = model_rows(setup, lambda name, model, images: _rows(
        name, model, images, setup.labels, tiles=tiles, seed=setup.seed, batch_size=setup.batch_size,
        base=setup.logits(name)))  # fmt: skip
    first = next(iter(setup.models.values()))
    _examples(setup.images(first)[0], tiles=tiles, seed=setup.seed, out=out)
    return finish(table, args=args, out=out, name="scrambling", digits=3, notes=setup.notes,
                  draw=lambda t: _figure(t, out=out),
                  caption="Accuracy on images whose full t x t tiles are permuted at random (Wilson 95 % interval "
                          "for top-1); same top-1: share of images whose predicted class does not change; interior "
                          "share: the part of a BagNet's patch grid that scrambling cannot change.")  # fmt: skip
