"""Options shared by the bagnet-* experiments (light: no torch, so ``attrbench --help`` stays fast).

See :mod:`attrbench.experiments.bagnet.common` for what the options open.
"""

from __future__ import annotations

import argparse

__all__ = ["BAGNET_QS", "add_common_arguments", "default_bagnets", "default_comparison", "split_names"]

#: receptive fields of the default BagNets.
BAGNET_QS: tuple[int, ...] = (9, 17, 33)


def default_bagnets(dataset: str) -> str:
    """``"bagnet9-<dataset>,bagnet17-<dataset>,bagnet33-<dataset>"`` (the shipped checkpoints' names)."""
    return ",".join(f"bagnet{q}-{dataset}" for q in BAGNET_QS)


def default_comparison(dataset: str) -> str:
    """``"resnet-<dataset>,vgg-<dataset>"``."""
    return f"resnet-{dataset},vgg-{dataset}"


def split_names(text: str | None) -> list[str]:
    """Comma-separated model names -> list (empty items dropped); None -> []."""
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def add_common_arguments(p: argparse.ArgumentParser, *, n_images: int, out: str, batch_size: int = 50) -> None:
    """Data, model and output options shared by the bagnet-* experiments.

    Args:
        p: the experiment's parser.
        n_images: default of ``--n-images``.
        out: default of ``--out``.
        batch_size: default of ``--batch-size`` (images per forward).
    """
    p.add_argument("--dataset", default="synthbirds", help="dataset name (attrbench list datasets; default synthbirds)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="dataset root (needed for cifar10 and folders)")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--bagnets", default=None, metavar="NAMES",
                   help="comma-separated BagNets (default: bagnet9/17/33-<dataset>); names, paths or module:factory")
    p.add_argument("--comparison", default=None, metavar="NAMES",
                   help="comma-separated comparison networks (default: resnet-<dataset>,vgg-<dataset>)")
    p.add_argument("--n-images", type=int, default=n_images, help=f"images drawn by seed, stratified (default {n_images})")
    p.add_argument("--seed", type=int, default=0, help="seed of the image sample and every random choice")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"images per forward (default {batch_size})")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto")
    p.add_argument("--out", default=out, metavar="DIR", help=f"output folder (default {out})")
