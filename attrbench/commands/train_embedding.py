"""Train an embedding network (triplet loss, semi-hard mining) on half the classes; Recall@K on the rest.

The protocol and the loss are described in ``attrbench/embedding/train.py``. The command, the
recipe and Recall@1/@5 on seen and unseen classes are stored inside the checkpoint.

Examples:
    attrbench train-embedding --dataset synthbirds --out attrbench/checkpoints/embed-synthbirds.pt
    attrbench train-embedding --dataset cub200 --data-root PATH/CUB_200_2011 --image-size 224 --out cub.pt
"""

from __future__ import annotations

import argparse

from attrbench.commands import command_line
from attrbench.errors import OptionError

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--dataset", choices=("synthbirds", "cub200"), default="synthbirds")
    p.add_argument("--data-root", default=None, help="dataset folder (synthbirds: default cache, generated once)")
    p.add_argument("--image-size", type=int, default=80)
    p.add_argument("--backbone", default="bagnet17", help="bagnet9 | bagnet17 | bagnet33 | resnet")
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--layers", type=int, nargs="+", default=[1, 1, 1, 1])
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--margin", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--classes-per-batch", type=int, default=5, help="P of the P x K batches")
    p.add_argument("--images-per-class", type=int, default=4, help="K of the P x K batches")
    p.add_argument("--lr", type=float, default=3e-3)
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
    train_checkpoint(
        dataset=args.dataset, data_root=args.data_root, image_size=args.image_size, backbone=args.backbone,
        width=args.width, layers=tuple(args.layers), dim=args.dim, margin=args.margin, epochs=args.epochs,
        classes_per_batch=args.classes_per_batch, images_per_class=args.images_per_class, lr=args.lr,
        seed=args.seed, device=resolve_device(args.device), name=args.name, out=args.out,
        metrics_out=args.metrics_out, command=command_line(args),
    )
    return 0
