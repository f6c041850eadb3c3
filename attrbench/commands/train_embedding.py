"""Train an embedding network on half the classes; Recall@K on the rest.

The protocol and the losses are described in ``attrbench/embedding/train.py`` and
``attrbench/embedding/losses.py``; the recipe and its pilots in docs/embedding.md. The command,
the recipe and Recall@1/@5 on seen and unseen classes are stored inside the checkpoint (and in
every ``--snapshots`` checkpoint).

Examples:
    attrbench train-embedding --out attrbench/checkpoints/embed-synthbirds.pt --snapshots 2,5
    attrbench train-embedding --dataset cub200 --data-root PATH/CUB_200_2011 --image-size 224 --out cub.pt
"""

from __future__ import annotations

import argparse

from attrbench.commands import command_line
from attrbench.errors import OptionError

__all__ = ["LOSS_CHOICES", "add_arguments", "main"]

#: ``attrbench.embedding.losses.LOSSES`` (not imported here: it imports torch, and --help stays fast).
LOSS_CHOICES: tuple[str, ...] = ("semihard", "multisimilarity")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--dataset", choices=("synthbirds", "cub200"), default="synthbirds")
    p.add_argument("--data-root", default=None, help="dataset folder (synthbirds: default cache, generated once)")
    p.add_argument("--image-size", type=int, default=97)
    p.add_argument("--backbone", default="resnet", help="bagnet9 | bagnet17 | bagnet33 | resnet")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--layers", type=int, nargs="+", default=[1, 1, 1, 1])
    p.add_argument("--stem-stride", type=int, default=2, choices=(1, 2), help="resnet stem stride")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--loss", choices=LOSS_CHOICES, default="multisimilarity")
    p.add_argument("--margin", type=float, default=0.2, help="triplet margin (semihard; kept as the target's margin)")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--classes-per-batch", type=int, default=10, help="P of the P x K batches")
    p.add_argument("--images-per-class", type=int, default=6, help="K of the P x K batches")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--train-per-class", type=int, default=400,
                   help="synthbirds: scenes per training class in the generated copy (the unseen classes are always "
                        "the default dataset's)")
    p.add_argument("--test-per-class", type=int, default=50, help="synthbirds: test scenes of that copy")
    p.add_argument("--snapshots", default="", help="comma-separated epochs after which a weaker checkpoint "
                                                   "<out-stem>-ep<E>.pt is saved, e.g. 2,5")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default="auto")
    p.add_argument("--name", default="embed-synthbirds", help="model name stored in the checkpoint's spec")
    p.add_argument("--out", required=True, help="checkpoint path (.pt)")
    p.add_argument("--metrics-out", default=None, help="also write the Recall@K and the command as JSON here")


def main(args: argparse.Namespace) -> int:
    import torch

    from attrbench.device import resolve_device
    from attrbench.embedding.train import train_checkpoint

    if args.threads is not None:
        if args.threads < 1:
            raise OptionError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    try:
        snapshots = tuple(int(v) for v in args.snapshots.split(",") if v.strip())
    except ValueError:
        raise OptionError(f"--snapshots must be comma-separated epochs, e.g. 2,5; got {args.snapshots!r}") from None
    if any(not 1 <= e < args.epochs for e in snapshots):
        raise OptionError(f"--snapshots epochs must lie in 1..{args.epochs - 1} (before the last epoch), got {snapshots}")
    train_checkpoint(
        dataset=args.dataset, data_root=args.data_root, image_size=args.image_size, backbone=args.backbone,
        width=args.width, layers=tuple(args.layers), dim=args.dim, margin=args.margin, epochs=args.epochs,
        classes_per_batch=args.classes_per_batch, images_per_class=args.images_per_class, lr=args.lr,
        seed=args.seed, device=resolve_device(args.device), name=args.name, out=args.out,
        metrics_out=args.metrics_out, command=command_line(args), loss=args.loss, stem_stride=args.stem_stride,
        train_per_class=args.train_per_class, test_per_class=args.test_per_class, snapshots=snapshots,
    )
    return 0
