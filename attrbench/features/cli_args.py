"""Arguments shared by the feature commands (model, dataset, images, device) and their loading."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from attrbench.features.data import FeatureImages
    from attrbench.models.common import ImageModel

__all__ = ["add_data_arguments", "add_model_argument", "load_images", "load_model_and_device", "parse_list"]


def add_model_argument(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--model", required=required, default=None,
                   help="model name, checkpoint path or pkg.module:factory (e.g. vgg-synthbirds)")  # fmt: skip


def add_data_arguments(p: argparse.ArgumentParser, *, split: str, n_images: int) -> None:
    p.add_argument("--dataset", default="synthbirds", help="registered dataset (default synthbirds; cub200 with --data-root)")
    p.add_argument("--data-root", default=None, help="dataset folder (default: the dataset's own default)")
    p.add_argument("--split", default=split, help=f"dataset split (default {split})")
    p.add_argument("--crop", default=None, choices=["bbox"],
                   help="crop each image to its bounding box first (the Explanatory Graph's CUB protocol)")  # fmt: skip
    p.add_argument("--n-images", type=int, default=n_images, help=f"images drawn by --seed (default {n_images}; all if fewer)")
    p.add_argument("--seed", type=int, default=0, help="seed of the image draw and of random choices (default 0)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward (default 32)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto (default)")


def parse_list(text: str | None) -> list[str] | None:
    """``"a,b, c"`` -> ["a", "b", "c"]; None or "" -> None."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def load_model_and_device(name: str, device_name: str) -> tuple[ImageModel, torch.device]:
    from attrbench.device import resolve_device
    from attrbench.models.zoo import load_model

    device = resolve_device(device_name)
    return load_model(name, device=device).eval(), device


def load_images(args: argparse.Namespace, model: ImageModel) -> FeatureImages:
    """The images of ``--dataset`` at the model's input size (see :func:`attrbench.features.data.open_images`)."""
    from attrbench.features.data import open_images

    return open_images(dataset=args.dataset, data_root=args.data_root, split=args.split, crop=args.crop,
                       image_size=tuple(model.spec.input_size), n_images=args.n_images, seed=args.seed)  # fmt: skip
