"""Saliency-style folders of images and object masks with matching stems.

    root/images/<stem>.<jpg|png|...>
    root/masks/<stem>.<png|...>       grayscale (or any mode), values / 255 -> [0, 1], kept soft
    root/labels.csv                   optional, rows "stem,label" (a header row is allowed)

``root/<split>/images`` is used instead when it exists. Images without a label get label -1
(unknown): the runner then explains the model's top prediction.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from attrbench.api import Sample
from attrbench.datasets.base import ImageDataset, image_size_of, load_image, load_mask
from attrbench.datasets.imagefolder import IMAGE_EXTENSIONS
from attrbench.errors import DataError, OptionError

__all__ = ["MasksFolder"]

SPLITS = ("all", "train", "test")


def _by_stem(folder: Path) -> dict[str, str]:
    """stem -> file name for the image files of ``folder``; two files with one stem is an error."""
    out: dict[str, str] = {}
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
    for name in names:
        stem = Path(name).stem
        if stem in out:
            raise DataError(f"{folder}: two files share the stem {stem!r}: {out[stem]} and {name}")
        out[stem] = name
    return out


def _read_labels(path: Path) -> dict[str, int]:
    labels: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2:
                raise DataError(f"{path}:{lineno}: expected 'stem,label', got {row!r}")
            stem, value = row[0].strip(), row[1].strip()
            try:
                labels[stem] = int(value)
            except ValueError:
                if lineno == 1:  # header row
                    continue
                raise DataError(f"{path}:{lineno}: label {value!r} is not an integer") from None
    return labels


class MasksFolder(ImageDataset):
    """Images with object masks (e.g. a saliency or segmentation benchmark).

    Args:
        root: folder with ``images/`` and ``masks/`` (or ``<split>/images`` ...).
        split: "all" (the root itself) or a sub-folder name "train"/"test".
        image_size: resize to ``image_size`` x ``image_size``; required when images differ in size.
        num_classes: number of model outputs the labels refer to (default: max label + 1).

    Raises:
        DataError: missing folders; an image without a mask (naming both); images of different
            sizes without ``image_size``; a mask whose size differs from its image (naming both).
    """

    _has_masks = True

    def __init__(
        self,
        *,
        root: str | Path,
        split: str = "all",
        image_size: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(image_size=image_size)
        if split not in SPLITS:
            raise OptionError(f"split must be one of {SPLITS}, got {split!r}")
        self.root = Path(root)
        base = self.root / split if split != "all" and (self.root / split).is_dir() else self.root
        self.images_dir, self.masks_dir = base / "images", base / "masks"
        for folder in (self.images_dir, self.masks_dir):
            if not folder.is_dir():
                raise DataError(f"{folder}: folder not found (expected {base}/images and {base}/masks)")
        images = _by_stem(self.images_dir)
        masks = _by_stem(self.masks_dir)
        if not images:
            raise DataError(f"{self.images_dir}: no images")
        for stem, name in images.items():
            if stem not in masks:
                raise DataError(
                    f"{self.images_dir / name}: no mask for this image (expected {self.masks_dir / stem}.png)"
                )
        labels_path = base / "labels.csv"
        labels = _read_labels(labels_path) if labels_path.is_file() else {}
        self.ids = list(images)
        self.labels = [labels.get(stem, -1) for stem in self.ids]
        self._files = [(images[s], masks[s]) for s in self.ids]
        known = [lab for lab in self.labels if lab >= 0]
        n = num_classes if num_classes is not None else (max(known) + 1 if known else 0)
        self._class_names = tuple(str(i) for i in range(n))
        self._check_sizes(same=image_size is None)

    def _check_sizes(self, *, same: bool) -> None:
        """Each mask matches its image; with ``same`` all images share one size (headers only)."""
        first = None
        for image_name, mask_name in self._files:
            image_path, mask_path = self.images_dir / image_name, self.masks_dir / mask_name
            size, mask_size = image_size_of(image_path), image_size_of(mask_path)
            if mask_size != size:
                raise DataError(
                    f"{mask_path}: mask is {mask_size[0]}x{mask_size[1]} but its image {image_path} "
                    f"is {size[0]}x{size[1]}"
                )
            if first is None:
                first = (image_name, size)
            elif same and size != first[1]:
                raise DataError(
                    f"{self.images_dir}: images differ in size ({first[0]} is {first[1][0]}x{first[1][1]}, "
                    f"{image_name} is {size[0]}x{size[1]}); pass image_size (--image-size) to resize them"
                )

    def _load(self, index: int) -> Sample:
        image_name, mask_name = self._files[index]
        image_path, mask_path = self.images_dir / image_name, self.masks_dir / mask_name
        image = load_image(image_path)
        mask = load_mask(mask_path)
        if mask.shape[-2:] != image.shape[-2:]:
            raise DataError(
                f"{mask_path}: mask is {mask.shape[-1]}x{mask.shape[-2]} but its image {image_path} "
                f"is {image.shape[-1]}x{image.shape[-2]}"
            )
        return Sample(image=image, label=self.labels[index], id=self.ids[index], mask=mask)
