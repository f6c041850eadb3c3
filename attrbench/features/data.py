"""Images (and part landmarks) for the feature commands: a registered dataset at the model's input
size, a seeded subset of it, batches on the device."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from attrbench.errors import DataError, OptionError
from attrbench.features.location_instability import landmark_indices

__all__ = ["FeatureImages", "open_images"]


@dataclass
class FeatureImages:
    """A dataset and the indices of the images used (sorted).

    Attributes:
        dataset: the dataset (yields :class:`attrbench.api.Sample`).
        indices: the chosen dataset indices.
        name: the dataset's name (for messages).
    """

    dataset: Any
    indices: list[int]
    name: str
    _loaded: Tensor | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.indices)

    def preload(self) -> FeatureImages:
        """Decode every chosen image once and keep them (N, 3, H, W) in memory; returns ``self``."""
        self._loaded = torch.stack([self.dataset[i].image for i in self.indices])
        return self

    def images(self, positions: list[int]) -> Tensor:
        """(len(positions), 3, H, W) images of the chosen images at ``positions`` (0..len-1)."""
        if self._loaded is not None:
            return self._loaded[torch.as_tensor(positions, dtype=torch.long)]
        return torch.stack([self.dataset[self.indices[p]].image for p in positions])

    def ids(self) -> list[str]:
        return [self.dataset.ids[i] if hasattr(self.dataset, "ids") else str(i) for i in self.indices]

    def batches(self, *, batch_size: int, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
        """(positions (B,) long, images (B, 3, H, W) on ``device``) in order."""
        for s in range(0, len(self.indices), batch_size):
            pos = list(range(s, min(s + batch_size, len(self.indices))))
            yield torch.tensor(pos), self.images(pos).to(device)

    def landmarks(self, wanted: list[str]) -> tuple[Tensor, list[str]]:
        """(N, L, 3) landmarks (x, y, visible) of the chosen parts, and their names.

        Raises:
            DataError: the dataset has no part locations.
        """
        names = getattr(self.dataset, "part_names", None)
        rows = []
        for i in self.indices:
            parts = self.dataset[i].parts
            if parts is None or names is None:
                raise DataError(f"dataset {self.name!r} has no part locations (parts/part_locs.txt); "
                                "location instability needs landmarks")  # fmt: skip
            rows.append(parts)
        cols = landmark_indices(names, wanted)
        return torch.stack(rows)[:, cols], [names[c] for c in cols]


def open_images(
    *, dataset: str, data_root: str | None, split: str, image_size: tuple[int, int], n_images: int, seed: int,
    crop: str | None = None, resize: str | None = None,
) -> FeatureImages:
    """``n_images`` images of ``dataset`` drawn by ``seed`` (all if fewer), resized to ``image_size``.

    Masks are not loaded; part locations are, where the dataset has them (they follow the crop
    and the resize). ``crop="bbox"`` crops to the bounding box first (datasets with boxes only);
    ``resize`` (None: the dataset's default) is passed to datasets that take it.
    """
    from attrbench.datasets import registry

    if n_images < 1:
        raise OptionError(f"--n-images must be at least 1, got {n_images}")
    cls = registry.get(dataset)
    params = inspect.signature(cls).parameters
    kwargs: dict[str, Any] = {"split": split, "image_size": tuple(image_size)}
    if "masks" in params:
        kwargs["masks"] = False
    if data_root is not None:
        kwargs["root"] = data_root
    if crop is not None:
        if "crop" not in params:
            raise OptionError(f"--crop {crop}: dataset {dataset!r} has no bounding boxes to crop to")
        kwargs["crop"] = crop
    if resize is not None and "resize" in params:
        kwargs["resize"] = resize
    data = cls(**kwargs)
    if len(data) == 0:
        raise DataError(f"dataset {dataset!r} split {split!r} is empty")
    n = min(n_images, len(data))
    chosen = np.random.default_rng([seed, 0xFEA7]).choice(len(data), size=n, replace=False)
    return FeatureImages(dataset=data, indices=sorted(int(i) for i in chosen), name=dataset)
