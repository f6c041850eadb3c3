"""Image-folder datasets: ``root/<split>/<class>/<file>`` (e.g. the CIFAR-10 JPEG copy).

    root/train/airplane/0000.jpg
    root/test/airplane/0000.jpg

If ``root`` holds class folders directly (no ``train``/``test`` level), those are used for any
split. Classes are the sorted folder names (label = index); ids are paths relative to ``root``.
There are no masks or boxes.
"""

from __future__ import annotations

import os
from pathlib import Path

from attrbench.api import Sample
from attrbench.datasets.base import ImageDataset, load_image
from attrbench.datasets.transforms import DEFAULT_RESIZE
from attrbench.errors import DataError, OptionError

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLITS = ("train", "test")


def _image_names(folder: Path) -> list[str]:
    """Sorted image file names in ``folder`` (one ``scandir``: fast for thousands of files)."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file())


class ImageFolder(ImageDataset):
    """Labelled images in class folders.

    Args:
        root: dataset root (holds ``train/`` and ``test/``, or the class folders themselves).
        split: "train" or "test".
        image_size: output size, an int or (H, W) (None keeps the file's size).
        resize: "shorter-crop" (default), "squash" or "pad" (:mod:`attrbench.datasets.transforms`).
        limit_per_class: keep only the first n files (sorted by name) of each class, for
            CPU-sized runs; deterministic.

    Raises:
        DataError: missing root or split folder, no class folders, a class without images; at
            load time a missing or corrupt image.
    """

    def __init__(
        self,
        *,
        root: str | Path | None,
        split: str = "test",
        image_size: int | tuple[int, int] | None = None,
        limit_per_class: int | None = None,
        resize: str = DEFAULT_RESIZE,
    ) -> None:
        super().__init__(image_size=image_size, resize=resize)
        if split not in SPLITS:
            raise OptionError(f"split must be one of {SPLITS}, got {split!r}")
        if limit_per_class is not None and limit_per_class < 1:
            raise OptionError(f"limit_per_class must be a positive int or None, got {limit_per_class!r}")
        if root is None:
            raise DataError(
                f"{type(self).__name__} needs a root folder (--data-root), e.g. ../shared/data/cifar10"
            )
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: image folder root not found")
        self.split = split
        self.limit_per_class = limit_per_class
        folder = self.root / split
        if not folder.is_dir():
            if any((self.root / s).is_dir() for s in SPLITS):
                raise DataError(f"{folder}: split folder not found")
            folder = self.root  # class folders directly under root
        self.folder = folder
        with os.scandir(folder) as it:
            classes = sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
        if not classes:
            raise DataError(f"{folder}: no class folders (expected {folder}/<class>/<image>)")
        self._class_names = tuple(classes)
        prefix = folder.relative_to(self.root)
        for label, name in enumerate(classes):
            files = _image_names(folder / name)
            if not files:
                raise DataError(f"{folder / name}: class folder has no images ({', '.join(IMAGE_EXTENSIONS)})")
            if limit_per_class is not None:
                files = files[:limit_per_class]
            self.ids.extend((prefix / name / f).as_posix() for f in files)
            self.labels.extend([label] * len(files))

    def image_path(self, index: int) -> Path:
        return self.root / self.ids[index]

    def _load(self, index: int) -> Sample:
        return Sample(image=load_image(self.image_path(index)), label=self.labels[index], id=self.ids[index])
