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
from attrbench.datasets.base import ImageDataset, load_image, load_mask
from attrbench.datasets.transforms import DEFAULT_RESIZE
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
        image_size: output size, an int or (H, W); required when images differ in size.
        resize: "shorter-crop" (default), "squash" or "pad" (:mod:`attrbench.datasets.transforms`).
        num_classes: number of model outputs the labels refer to (default: max label + 1).

    Raises:
        DataError: missing folders, no images, no mask matching any image. Files are validated
            lazily, when their sample is loaded (a :class:`~attrbench.datasets.isolation.SampleError`
            naming the file): an image without a mask, a corrupt or empty file, a mask whose size
            differs from its image, an image whose size differs from the first one loaded when
            ``image_size`` is None.
    """

    _has_masks = True

    def __init__(
        self,
        *,
        root: str | Path,
        split: str = "all",
        image_size: int | tuple[int, int] | None = None,
        num_classes: int | None = None,
        resize: str = DEFAULT_RESIZE,
    ) -> None:
        super().__init__(image_size=image_size, resize=resize)
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
        if not set(images) & set(masks):
            raise DataError(
                f"{self.masks_dir}: no mask matches any image of {self.images_dir} (masks need the images' stems)"
            )
        labels_path = base / "labels.csv"
        labels = _read_labels(labels_path) if labels_path.is_file() else {}
        self.ids = list(images)
        self.labels = [labels.get(stem, -1) for stem in self.ids]
        self._files = [(images[s], masks.get(s)) for s in self.ids]
        known = [lab for lab in self.labels if lab >= 0]
        n = num_classes if num_classes is not None else (max(known) + 1 if known else 0)
        self._class_names = tuple(str(i) for i in range(n))
        self._first_size: tuple[str, tuple[int, int]] | None = None  # (image name, (w, h)) of the first load

    def _load(self, index: int) -> Sample:
        """Load one sample, validating only its own files (lazily, so one bad file fails one sample)."""
        image_name, mask_name = self._files[index]
        image_path = self.images_dir / image_name
        if mask_name is None:
            stem = self.ids[index]
            raise DataError(f"{image_path}: no mask for this image (expected {self.masks_dir / stem}.png)")
        mask_path = self.masks_dir / mask_name
        image = load_image(image_path)
        mask = load_mask(mask_path)
        if mask.shape[-2:] != image.shape[-2:]:
            raise DataError(
                f"{mask_path}: mask is {mask.shape[-1]}x{mask.shape[-2]} but its image {image_path} "
                f"is {image.shape[-1]}x{image.shape[-2]}"
            )
        size = (image.shape[-1], image.shape[-2])
        if self._first_size is None:
            self._first_size = (image_name, size)
        elif self.image_size is None and size != self._first_size[1]:
            first, (w, h) = self._first_size
            raise DataError(
                f"{image_path}: image is {size[0]}x{size[1]} but {first} is {w}x{h}; "
                "give the dataset an image_size (attrbench run: --image-size N, --resize MODE) to bring them to one size"
            )
        return Sample(image=image, label=self.labels[index], id=self.ids[index], mask=mask)
