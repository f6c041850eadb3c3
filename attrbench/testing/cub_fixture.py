"""A miniature CUB-200-2011 written by tests, with every quirk of the real files.

2 classes x 3 images by default (``num_classes`` adds classes 3, 4, ... with 4 images each, two
per split, so that the metric-learning protocol has unseen classes with positives and negatives); random RGB JPEGs plus one grayscale JPEG; float boxes; 15 ``part_locs``
rows per image including invisible ``0.0 0.0 0`` rows; part names with spaces; soft 'L' PNG
masks with values {0, 64, 128, 191, 255} plus one 'LA' PNG; segmentations in a separate root
(``<tmp>/segmentations`` beside ``<tmp>/CUB_200_2011``); image ids non-contiguous and listed out
of order in several files. :func:`write_cub_fixture` returns what a loader must read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["CUB_PART_NAMES", "CubFixture", "FixtureImage", "write_cub_fixture"]

CUB_PART_NAMES = (
    "back", "beak", "belly", "breast", "crown", "forehead", "left eye", "left leg",
    "left wing", "nape", "right eye", "right leg", "right wing", "tail", "throat",
)  # fmt: skip
MASK_LEVELS = (0, 64, 128, 191, 255)


@dataclass(frozen=True)
class FixtureImage:
    """Expected values for one image (coordinates in pixels of the file)."""

    image_id: int
    path: str  # under images/, the sample id
    class_id: int  # 1-based, as in the files
    is_train: bool
    size: tuple[int, int]  # (width, height)
    bbox: tuple[float, float, float, float]
    parts: np.ndarray  # (15, 3) float32, invisible rows zero
    mask: np.ndarray  # (H, W) uint8 (channel 0 of the PNG)
    grayscale: bool
    la_mask: bool


@dataclass(frozen=True)
class CubFixture:
    root: Path  # the CUB_200_2011 folder
    segmentation_root: Path
    class_names: tuple[str, ...]
    images: list[FixtureImage] = field(default_factory=list)  # sorted by image id

    def by_path(self) -> dict[str, FixtureImage]:
        return {im.path: im for im in self.images}


def _image_specs(num_classes: int) -> list[tuple[int, int, bool, int, int]]:
    """(image id, class id, is_train, width, height) per image; ids non-contiguous."""
    specs = [(3, 1, True, 20, 16), (7, 1, False, 24, 18), (12, 1, True, 17, 21),
             (20, 2, False, 22, 22), (21, 2, True, 19, 15), (40, 2, False, 26, 20)]  # fmt: skip
    return specs + [(50 + 4 * (c - 3) + j, c, j % 2 == 0, 20 + (c + j) % 6, 25 - (c * j) % 7)
                    for c in range(3, num_classes + 1) for j in range(4)]


def write_cub_fixture(base: Path, *, seed: int = 0, num_classes: int = 2) -> CubFixture:
    """Write the miniature dataset under ``base`` and return the expected contents.

    ``num_classes`` >= 2: class c >= 3 adds images with ids 50 + 4 (c - 3) + j, j = 0..3 (train,
    test, train, test), sizes 19-25 px; ``seed`` seeds the random pixels.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    rng = np.random.default_rng(seed)
    root, seg_root = base / "CUB_200_2011", base / "segmentations"
    class_names = ("001.Black_footed_Albatross", "002.Laysan_Albatross",
                   *(f"{c:03d}.Fixture_Bird_{c}" for c in range(3, num_classes + 1)))
    specs = _image_specs(num_classes)
    images = []
    for n, (image_id, class_id, is_train, w, h) in enumerate(specs):
        folder = class_names[class_id - 1]
        stem = f"{folder.split('.', 1)[1]}_{image_id:04d}_{100 + n}"
        path = f"{folder}/{stem}.jpg"
        grayscale, la_mask = image_id == 12, image_id == 21
        (root / "images" / folder).mkdir(parents=True, exist_ok=True)
        if grayscale:
            Image.fromarray(rng.integers(0, 256, size=(h, w), dtype=np.uint8), "L").save(root / "images" / path)
        else:
            Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), "RGB").save(root / "images" / path)
        # soft mask by construction: level index = (row // 3 + col // 4) % 5
        rows, cols = np.mgrid[0:h, 0:w]
        mask = np.array(MASK_LEVELS, dtype=np.uint8)[(rows // 3 + cols // 4) % 5]
        (seg_root / folder).mkdir(parents=True, exist_ok=True)
        if la_mask:
            alpha = np.full_like(mask, 255)
            Image.fromarray(np.stack([mask, alpha], axis=-1), "LA").save(seg_root / folder / f"{stem}.png")
        else:
            Image.fromarray(mask, "L").save(seg_root / folder / f"{stem}.png")
        k = n % 6  # the six default images' offsets, repeated (boxes and parts stay inside the image)
        bbox = (1.5 + k, 2.25, w - 4.5 - k, h - 5.75)
        parts = np.zeros((15, 3), dtype=np.float32)
        for p in range(15):
            if (p + k) % 3 != 0:  # every third row invisible
                parts[p] = (2.0 + p + 0.5 * k, 1.0 + 0.5 * p + 0.5 * k, 1.0)
        images.append(FixtureImage(image_id, path, class_id, is_train, (w, h), bbox, parts, mask, grayscale, la_mask))

    def write(name: str, lines: list[str]) -> None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    write("images.txt", [f"{im.image_id} {im.path}" for im in images])
    write("classes.txt", [f"{i} {name}" for i, name in enumerate(class_names, 1)])
    # out of order in these files: a loader joining by line number gets them wrong
    write("image_class_labels.txt", [f"{im.image_id} {im.class_id}" for im in reversed(images)])
    write("train_test_split.txt", [f"{im.image_id} {int(im.is_train)}" for im in images[3:] + images[:3]])
    write("bounding_boxes.txt", [f"{im.image_id} " + " ".join(f"{v:.2f}" for v in im.bbox) for im in images[::-1]])
    write("parts/parts.txt", [f"{i} {name}" for i, name in enumerate(CUB_PART_NAMES, 1)])
    locs = []
    for im in images[::2] + images[1::2]:
        for p in range(15):
            x, y, v = im.parts[p]
            locs.append(f"{im.image_id} {p + 1} {x:.1f} {y:.1f} {int(v)}")
    write("parts/part_locs.txt", locs)
    return CubFixture(root=root, segmentation_root=seg_root, class_names=class_names, images=images)
