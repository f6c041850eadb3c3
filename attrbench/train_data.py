"""Training data held in memory: one split of a registered dataset as (N, 3, H, W) tensors.

Used by :mod:`attrbench.train` (the shipped BagNets' trainer) and the checkpoint checks.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from attrbench.errors import DataError

__all__ = ["TrainData", "load_training_data", "open_split"]


@dataclass
class TrainData:
    """A dataset split held in memory.

    Attributes:
        images: (N, 3, H, W) float32 in [0, 1].
        labels: (N,) int64.
        class_names: names of the classes, index = label.
        ids: the samples' ids (dataset order).
    """

    images: Tensor
    labels: Tensor
    class_names: tuple[str, ...]
    ids: tuple[str, ...] = ()


def _dataset_class(name: str) -> Any:
    from attrbench.datasets import registry

    return registry.get(name)


def _stack(dataset: Any, *, source: str) -> TrainData:
    n = len(dataset)
    if n == 0:
        raise DataError(f"{source}: the dataset is empty")
    first = dataset[0]
    images = torch.empty((n, *first.image.shape), dtype=torch.float32)
    labels = torch.empty(n, dtype=torch.long)
    ids = []
    for i in range(n):
        sample = first if i == 0 else dataset[i]
        if tuple(sample.image.shape) != tuple(images.shape[1:]):
            raise DataError(
                f"{source}: sample {sample.id!r} has shape {tuple(sample.image.shape)}, expected "
                f"{tuple(images.shape[1:])}; give an image size"
            )
        images[i] = sample.image
        labels[i] = sample.label
        ids.append(sample.id)
    names = tuple(getattr(dataset, "class_names", ()) or ())
    if not names:
        names = tuple(str(c) for c in range(int(labels.max()) + 1))
    return TrainData(images=images, labels=labels, class_names=names, ids=tuple(ids))


def _limit(data: TrainData, per_class: int | None) -> TrainData:
    """The first ``per_class`` samples of every class (dataset order), for datasets without a limit."""
    if per_class is None:
        return data
    keep = torch.cat([torch.nonzero(data.labels == c).flatten()[:per_class] for c in data.labels.unique()])
    keep = keep.sort().values
    return TrainData(
        images=data.images[keep],
        labels=data.labels[keep],
        class_names=data.class_names,
        ids=tuple(data.ids[int(i)] for i in keep) if data.ids else (),
    )


def open_split(
    *,
    dataset: str,
    split: str,
    data_root: str | Path | None,
    image_size: int,
    without_bird: bool = False,
    dataset_args: dict[str, Any] | None = None,
    limit_per_class: int | None = None,
) -> tuple[Any, bool]:
    """The dataset object of one split, built as :func:`load_training_data` builds it.

    Returns:
        (dataset, applied): ``applied`` says whether the dataset took ``limit_per_class`` itself
        (otherwise the caller keeps the first ``limit_per_class`` samples of every class).
    """
    cls = _dataset_class(dataset)
    kwargs: dict[str, Any] = {**(dataset_args or {}), "split": split, "image_size": image_size}
    if data_root is not None or dataset != "synthbirds":
        kwargs["root"] = data_root
    if without_bird:
        kwargs["without_bird"] = True
    takes_limit = "limit_per_class" in inspect.signature(cls).parameters
    if takes_limit and limit_per_class is not None:
        kwargs["limit_per_class"] = limit_per_class
    return cls(**kwargs), takes_limit


def load_training_data(
    *,
    dataset: str,
    split: str,
    data_root: str | Path | None,
    image_size: int,
    limit_per_class: int | None = None,
    without_bird: bool = False,
    dataset_args: dict[str, Any] | None = None,
) -> TrainData:
    """Load one split of a registered dataset into memory at ``image_size`` x ``image_size``.

    ``without_bird`` renders SynthBirds scenes without their bird (same scenes, same labels);
    ``dataset_args`` are further constructor options (e.g. ``train_per_class`` of SynthBirds).
    """
    data, applied = open_split(
        dataset=dataset, split=split, data_root=data_root, image_size=image_size, without_bird=without_bird,
        dataset_args=dataset_args, limit_per_class=limit_per_class,
    )  # fmt: skip
    stacked = _stack(data, source=f"dataset {dataset!r} ({split}, root={data_root})")
    return stacked if applied else _limit(stacked, limit_per_class)
