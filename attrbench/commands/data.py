"""Generate the SynthBirds dataset or describe a dataset folder.

Examples:
    attrbench data synthbirds --out data/synthbirds --seed 0
    attrbench data synthbirds --out data/synthbirds-nobird --without-bird
    attrbench data info data/synthbirds --dataset synthbirds
    attrbench data info ../shared/data/cifar10 --dataset cifar10
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    gen = sub.add_parser("synthbirds", help="generate SynthBirds in the CUB-200-2011 layout")
    gen.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    gen.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    gen.add_argument("--classes", type=int, default=20, help="number of classes (default 20, at most 54)")
    gen.add_argument("--train-per-class", type=int, default=60, help="training images per class (default 60)")
    gen.add_argument("--test-per-class", type=int, default=20, help="test images per class (default 20)")
    gen.add_argument("--image-size", type=int, default=97, help="image side in pixels (default 97)")
    gen.add_argument("--without-bird", action="store_true", help="render the same scenes without the bird")
    info = sub.add_parser("info", help="count images per split and class of a dataset folder")
    info.add_argument("root", help="dataset root folder")
    info.add_argument("--dataset", required=True, help="registered dataset name (e.g. cub200, synthbirds, cifar10)")


def _splits(name: str) -> tuple[str, ...]:
    return ("all",) if name == "masksfolder" else ("train", "test")


def main(args: argparse.Namespace) -> int:
    import time
    from collections import Counter

    from attrbench.datasets import get_dataset

    if args.data_command == "synthbirds":
        from attrbench.datasets.synthbirds import generate

        start = time.perf_counter()
        out = generate(
            args.out,
            seed=args.seed,
            num_classes=args.classes,
            train_per_class=args.train_per_class,
            test_per_class=args.test_per_class,
            image_size=args.image_size,
            without_bird=args.without_bird,
            progress=True,
        )
        n = args.classes * (args.train_per_class + args.test_per_class)
        print(f"wrote {n} images ({args.classes} classes) to {out} in {time.perf_counter() - start:.1f} s")
        return 0

    from pathlib import Path

    from attrbench.errors import DataError

    cls = get_dataset(args.dataset)
    if not Path(args.root).is_dir():  # never generate into a mistyped path just to describe it
        raise DataError(f"{args.root}: dataset folder not found")
    print(f"{args.root} as {args.dataset} ({cls.__module__}.{cls.__name__})")
    for split in _splits(args.dataset):
        ds = cls(root=args.root, split=split)
        counts = Counter(ds.labels)
        per_class = sorted(counts.values()) if counts else [0]
        print(
            f"  {split}: {len(ds)} images, {ds.num_classes} classes "
            f"(per class min {per_class[0]}, max {per_class[-1]}), masks: {'yes' if ds.has_masks else 'no'}, "
            f"boxes: {'yes' if ds.has_bboxes else 'no'}"
        )
        for label in sorted(counts):
            name = ds.class_names[label] if 0 <= label < ds.num_classes else "(unknown)"
            print(f"    {label:4d} {name}: {counts[label]}")
    return 0
