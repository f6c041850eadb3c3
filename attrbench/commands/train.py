"""Train a small BagNet or comparison network (ResNet, VGG) on a dataset and write an attrbench checkpoint (seeded, CPU-feasible).

The exact command, the training recipe, the metrics (test accuracy; for SynthBirds also the
accuracy on the test scenes rendered without the bird) and package versions are stored inside
the checkpoint and in ``<out>.json`` beside it. The shipped checkpoints were made this way; see
``scripts/train_all.sh`` and ``results/checkpoints.md``.

Examples:
    attrbench train --arch bagnet17 --dataset synthbirds --image-size 97 --train-per-class 500 \\
        --out bagnet17-synthbirds.pt
    attrbench train --arch resnet --width 16 --stem-stride 2 --dataset synthbirds --out resnet-synthbirds.pt
    attrbench train --arch bagnet9 --dataset cifar10 --data-root ../shared/data/cifar10 \\
        --image-size 64 --limit-per-class 400 --out bagnet9-cifar10.pt

The table of shipped checkpoints is written by ``attrbench checkpoints``.
"""

from __future__ import annotations

import argparse
import shlex

from attrbench.errors import OptionError

__all__ = ["add_arguments", "canonical_command", "main"]

ARCH_CHOICES = ("bagnet9", "bagnet17", "bagnet33", "resnet", "vgg")
#: ``attrbench.train.PRECISIONS`` without importing torch at parse time (a test keeps them equal).
PRECISIONS = ("fp32", "bf16")
#: factory options of the comparison networks: option name -> (arch, default).
ARCH_OPTIONS = {"blocks": ("resnet", 1), "stem_stride": ("resnet", 1), "convs": ("vgg", 2)}


def _layers(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers must be four integers like 1,1,1,1, got {text!r}") from None
    if len(values) != 4 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--layers must be four positive integers like 1,1,1,1, got {text!r}")
    return values  # type: ignore[return-value]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", choices=ARCH_CHOICES, default="bagnet17", help="BagNet variant or comparison network (default bagnet17)")
    parser.add_argument("--dataset", default="synthbirds", help="registered dataset name (default synthbirds)")
    parser.add_argument("--data-root", default=None, help="dataset folder (default: the dataset's own default)")
    parser.add_argument("--image-size", type=int, default=97, help="square input side in pixels (default 97 = q + 8k for q = 9, 17, 33)")
    parser.add_argument("--width", type=int, default=8, help="stem/stage-1 channels; official 64 (default 8)")
    parser.add_argument("--layers", type=_layers, default=(1, 1, 1, 1), help="blocks per stage (default 1,1,1,1)")
    parser.add_argument("--blocks", type=int, default=1, help="resnet: basic blocks per stage (default 1)")
    parser.add_argument("--stem-stride", type=int, default=1, help="resnet: stride of the 3x3 stem (default 1)")
    parser.add_argument("--convs", type=int, default=2, help="vgg: 3x3 convolutions per stage (default 2)")
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="generated datasets (SynthBirds): training scenes per class (default: the dataset's)")
    parser.add_argument("--test-per-class", type=int, default=None,
                        help="generated datasets (SynthBirds): test scenes per class (default: the dataset's)")
    parser.add_argument("--epochs", type=int, default=12, help="(default 12)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default 64)")
    parser.add_argument("--lr", type=float, default=3e-3, help="AdamW peak learning rate (default 3e-3)")
    parser.add_argument("--weight-decay", type=float, default=5e-4, help="AdamW weight decay (default 5e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seeds weights, batch order, augmentation (default 0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice); results are reproducible per thread count")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", default=None, help="checkpoint path (default <arch>-<dataset>.pt)")
    parser.add_argument("--limit-per-class", type=int, default=None,
                        help="train on the first N images of every class")
    parser.add_argument("--test-limit-per-class", type=int, default=None,
                        help="evaluate on the first N test images of every class")
    parser.add_argument("--no-augment", action="store_true", help="no random translation / flips")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32, or bf16: bfloat16 autocast in training passes, ~3x faster on AVX-512 BF16 CPUs (default fp32)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def canonical_command(args: argparse.Namespace) -> str:
    """The full command with every training option spelled out (stable if defaults change)."""
    parts = [
        "attrbench", "train",
        "--arch", args.arch,
        "--dataset", args.dataset,
        *(["--data-root", str(args.data_root)] if args.data_root is not None else []),
        "--image-size", str(args.image_size),
        "--width", str(args.width),
        *(["--layers", ",".join(str(v) for v in args.layers)] if args.arch.startswith("bagnet") else []),
        *[part for key, value in arch_args(args).items() for part in (f"--{key.replace('_', '-')}", str(value))],
        *[part for key, value in dataset_args(args).items() for part in (f"--{key.replace('_', '-')}", str(value))],
        "--epochs", str(args.epochs),
        "--batch-size", str(args.batch_size),
        "--lr", repr(args.lr),
        "--weight-decay", repr(args.weight_decay),
        "--seed", str(args.seed),
        *(["--threads", str(args.threads)] if args.threads is not None else []),
        *(["--limit-per-class", str(args.limit_per_class)] if args.limit_per_class is not None else []),
        *(["--test-limit-per-class", str(args.test_limit_per_class)] if args.test_limit_per_class is not None else []),
        *(["--no-augment"] if args.no_augment else []),
        *(["--precision", args.precision] if args.precision != "fp32" else []),
        "--out", str(args.out),
    ]
    return shlex.join(parts)


def arch_args(args: argparse.Namespace) -> dict[str, int]:
    """The comparison-network options that apply to ``args.arch``."""
    return {key: getattr(args, key) for key, (arch, _) in ARCH_OPTIONS.items() if arch == args.arch}


def dataset_args(args: argparse.Namespace) -> dict[str, int]:
    """Generator options given on the command line (split sizes)."""
    keys = ("train_per_class", "test_per_class")
    return {key: getattr(args, key) for key in keys if getattr(args, key) is not None}


def main(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from attrbench.datasets import registry
    from attrbench.device import resolve_device
    from attrbench.train import train

    if args.dataset not in registry:
        raise registry.unknown(args.dataset)
    if args.threads is not None:
        if args.threads < 1:
            raise OptionError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    if args.out is None:
        args.out = f"{args.arch}-{args.dataset}.pt"
    metrics = train(
        arch=args.arch,
        dataset=args.dataset,
        data_root=args.data_root,
        image_size=args.image_size,
        width=args.width,
        layers=args.layers,
        arch_args=arch_args(args),
        dataset_args=dataset_args(args),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        seed=args.seed,
        device=resolve_device(args.device),
        out=Path(args.out),
        train_limit_per_class=args.limit_per_class,
        test_limit_per_class=args.test_limit_per_class,
        augment=not args.no_augment,
        precision=args.precision,
        command=canonical_command(args),
        progress=not args.no_progress,
    )
    print(json.dumps({"checkpoint": str(args.out), **metrics}, indent=2))
    return 0
