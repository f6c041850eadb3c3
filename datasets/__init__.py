"""Datasets: one file each. ``DATASETS`` is the only registration (name -> "module:Class").

Every class is constructed as ``Cls(*, root, split, image_size, ...)`` and yields
:class:`attrbench.api.Sample` objects (see :class:`attrbench.datasets.base.ImageDataset`).
"""

from __future__ import annotations

from attrbench.errors import OptionTypeError
from attrbench.registry import Registry

DATASETS: dict[str, str] = {
    "synthbirds": "attrbench.datasets.synthbirds:SynthBirds",
    "cub200": "attrbench.datasets.cub200:CUB200",
    "imagefolder": "attrbench.datasets.imagefolder:ImageFolder",
    "cifar10": "attrbench.datasets.imagefolder:ImageFolder",
    "masksfolder": "attrbench.datasets.masksfolder:MasksFolder",
}

registry = Registry("datasets", DATASETS)


def list_datasets(pattern: str | None = None) -> list[str]:
    return registry.names(pattern)


def get_dataset(name: str) -> type:
    """The dataset class registered as ``name`` (or a ``"pkg.module:Class"`` string)."""
    from attrbench.datasets.base import ImageDataset

    cls = registry.get(name)
    if not (isinstance(cls, type) and issubclass(cls, ImageDataset)):
        raise OptionTypeError(f"{name!r} resolves to {cls!r}, which is not an ImageDataset subclass")
    return cls


__all__ = ["DATASETS", "get_dataset", "list_datasets", "registry"]
