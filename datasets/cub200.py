"""CUB-200-2011 (Wah et al., Caltech-UCSD Birds-200-2011, CNS-TR-2011-001) in its official layout.

    <root>/images.txt               <image_id> <path under images/>
    <root>/image_class_labels.txt   <image_id> <class_id>            (1-based)
    <root>/classes.txt              <class_id> <folder name>
    <root>/train_test_split.txt     <image_id> <is_train>             (1 train, 0 test)
    <root>/bounding_boxes.txt       <image_id> <x> <y> <w> <h>        (floats, top-left corner)
    <root>/parts/parts.txt          <part_id> <name with spaces>
    <root>/parts/part_locs.txt      <image_id> <part_id> <x> <y> <visible>
    <segmentation_root>/<class folder>/<image stem>.png              (soft masks, separate archive)

Every file is joined by image id, never by line number. The same layout is written by the
SynthBirds generator (:mod:`attrbench.datasets.synthbirds`).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import torch
from torch import Tensor

from attrbench.api import Sample
from attrbench.datasets.base import ImageDataset, load_image, load_mask
from attrbench.datasets.transforms import DEFAULT_RESIZE
from attrbench.errors import DataError, OptionError

__all__ = ["CLASS_SPLITS", "CUB200", "SPLITS"]

SPLITS = ("train", "test", "all")
#: metric-learning class split (Oh Song et al., CVPR 2016): first half of the class ids for
#: training, second half for testing.
CLASS_SPLITS = ("all", "first_half", "second_half")


def _read_table(path: Path, *, columns: int, maxsplit: int | None = None) -> list[list[str]]:
    """Non-empty lines of ``path`` split on whitespace into exactly ``columns`` fields.

    With ``maxsplit`` the last field keeps its spaces (part names such as "left eye").
    """
    if not path.is_file():
        raise DataError(f"{path}: index file not found (is this a CUB-200-2011 root?)")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            fields = line.split(None, maxsplit) if maxsplit is not None else line.split()
            if len(fields) != columns:
                raise DataError(f"{path}:{lineno}: expected {columns} fields, got {len(fields)}: {line!r}")
            rows.append(fields)
    return rows


def _by_id(path: Path, rows: list[list[str]]) -> dict[int, list[str]]:
    """Rows keyed by their integer first field; duplicate ids are an error."""
    out: dict[int, list[str]] = {}
    for fields in rows:
        try:
            key = int(fields[0])
        except ValueError:
            raise DataError(f"{path}: id {fields[0]!r} is not an integer") from None
        if key in out:
            raise DataError(f"{path}: id {key} appears twice")
        out[key] = fields[1:]
    return out


def _check_image_paths(path: Path, images: dict[int, list[str]]) -> None:
    """Refuse image paths that could leave ``<root>/images``: absolute paths and ``..`` parts."""
    for key, (name,) in images.items():
        posix, windows = PurePosixPath(name), PureWindowsPath(name)
        if posix.is_absolute() or windows.is_absolute() or windows.drive or ".." in windows.parts:
            raise DataError(
                f"{path}: image id {key}: path {name!r} leaves the images folder (absolute or '..'); "
                "paths must be relative to <root>/images"
            )


def _floats(path: Path, key: int, fields: list[str]) -> list[float]:
    try:
        return [float(f) for f in fields]
    except ValueError:
        raise DataError(f"{path}: id {key}: expected numbers, got {' '.join(fields)!r}") from None


def _malformed(path: Path, *, columns: int) -> DataError:
    """An error naming the first line of ``path`` that is not ``columns`` numbers."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                ok = len(fields) == columns and all(isinstance(float(f), float) for f in fields)
            except ValueError:
                ok = False
            if not ok:
                return DataError(f"{path}:{lineno}: expected {columns} numbers, got {line.strip()!r}")
    return DataError(f"{path}: malformed table")


class CUB200(ImageDataset):
    """CUB-200-2011 with labels, boxes, 15 part locations and soft segmentation masks.

    Args:
        root: the ``CUB_200_2011`` folder (holds ``images.txt`` and ``images/``).
        split: "train", "test" or "all" (``train_test_split.txt``).
        image_size: output size, an int or (H, W) (after the optional crop); None keeps the file's size.
        resize: "shorter-crop" (default), "squash" or "pad" (:mod:`attrbench.datasets.transforms`).
        classes: "all", "first_half" (class ids 1..C/2) or "second_half" (the rest): the
            metric-learning protocol. Labels are re-indexed 0..k-1 within the chosen classes, in
            class-id order, and ``class_names`` lists only those.
        crop: None or "bbox" (crop to the bounding box first, as the Explanatory Graph protocol).
        masks: load segmentation masks (needs ``segmentation_root``); False skips them.
        parts: load the part locations (``parts/part_locs.txt``); False skips them.
        segmentation_root: folder of ``<class folder>/<stem>.png`` masks; default
            ``<root>/segmentations`` if it exists, else ``<root>/../segmentations``.

    Samples: image (3, H, W); mask (1, H, W) soft in [0, 1] (channel 0 / 255); bbox (x, y, w, h);
    parts (15, 3) rows (x, y, visible) ordered by part id, invisible rows (0, 0, 0); id = the
    image's path under ``images/``.

    Raises:
        DataError: missing or malformed index file, inconsistent ids (an id of another table
            missing from ``images.txt`` included), an ``images.txt`` path that is absolute or
            holds ``..``, missing segmentation root (when ``masks``); at load time (a
            :class:`~attrbench.datasets.isolation.SampleError` for that sample only):
            missing/corrupt image or mask, mask size mismatch.
    """

    _has_bboxes = True

    def __init__(
        self,
        *,
        root: str | Path,
        split: str = "test",
        image_size: int | tuple[int, int] | None = None,
        classes: str = "all",
        crop: str | None = None,
        masks: bool = True,
        parts: bool = True,
        resize: str = DEFAULT_RESIZE,
        segmentation_root: str | Path | None = None,
    ) -> None:
        super().__init__(image_size=image_size, crop=crop, resize=resize)
        if split not in SPLITS:
            raise OptionError(f"split must be one of {SPLITS}, got {split!r}")
        if classes not in CLASS_SPLITS:
            raise OptionError(f"classes must be one of {CLASS_SPLITS}, got {classes!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: CUB-200-2011 root folder not found")
        self.split = split
        self.classes = classes
        self._has_masks = masks
        self.segmentation_root = self._find_segmentation_root(segmentation_root) if masks else None
        self._index(parts=parts)

    # -- index ------------------------------------------------------------------------------
    def _find_segmentation_root(self, given: str | Path | None) -> Path:
        if given is not None:
            path = Path(given)
            if not path.is_dir():
                raise DataError(f"{path}: segmentation root not found (pass masks=False to skip masks)")
            return path
        candidates = [self.root / "segmentations", self.root.parent / "segmentations"]
        for path in candidates:
            if path.is_dir():
                return path
        tried = " or ".join(str(c) for c in candidates)
        raise DataError(
            f"{self.root}: no segmentation masks found at {tried}; give segmentation_root "
            "(the separate segmentations archive) or masks=False"
        )

    def _index(self, *, parts: bool) -> None:
        """Read and cross-check the official tables (images, labels, split, boxes, parts).

        Long: one pass over the six tables of the archive, each a few lines of reading plus the
        checks that tie them together (ids present in every table, paths inside the root).
        """
        root = self.root
        images_path = root / "images.txt"
        labels_path = root / "image_class_labels.txt"
        classes_path = root / "classes.txt"
        split_path = root / "train_test_split.txt"
        boxes_path = root / "bounding_boxes.txt"
        images = _by_id(images_path, _read_table(images_path, columns=2))
        labels = _by_id(labels_path, _read_table(labels_path, columns=2))
        class_rows = _by_id(classes_path, _read_table(classes_path, columns=2))
        is_train = _by_id(split_path, _read_table(split_path, columns=2))
        boxes = _by_id(boxes_path, _read_table(boxes_path, columns=5))
        if not images:
            raise DataError(f"{images_path}: no images listed")
        _check_image_paths(images_path, images)
        for path, table in ((labels_path, labels), (split_path, is_train), (boxes_path, boxes)):
            missing = sorted(set(images) - set(table))
            if missing:
                more = " ..." if len(missing) > 5 else ""
                raise DataError(f"{path}: no entry for image id(s) {missing[:5]}{more}")
            extra = sorted(set(table) - set(images))
            if extra:  # never drop an image silently: its row in images.txt is missing
                more = " ..." if len(extra) > 5 else ""
                raise DataError(f"{path}: image id(s) {extra[:5]}{more} are missing from {images_path}")
        class_ids = sorted(class_rows)
        half = len(class_ids) // 2
        chosen = {"all": class_ids, "first_half": class_ids[:half], "second_half": class_ids[half:]}[self.classes]
        new_label = {cid: i for i, cid in enumerate(chosen)}
        self._class_names = tuple(class_rows[cid][0] for cid in chosen)

        part_table: dict[int, Tensor] | None = None
        if parts:
            part_table = self._read_parts(set(images))

        self.image_ids: list[int] = []
        self.ids = []
        self.labels = []
        self._boxes: list[tuple[float, float, float, float]] = []
        self._parts: list[Tensor] = []
        for image_id in sorted(images):
            (class_field,) = labels[image_id]
            try:
                class_id = int(class_field)
            except ValueError:
                msg = f"{labels_path}: image id {image_id}: class {class_field!r} is not an integer"
                raise DataError(msg) from None
            if class_id not in class_rows:
                raise DataError(f"{labels_path}: image id {image_id} has class id {class_id}, not in {classes_path}")
            flag = is_train[image_id][0]
            if flag not in ("0", "1"):
                raise DataError(f"{split_path}: image id {image_id}: is_train must be 0 or 1, got {flag!r}")
            if self.split != "all" and (flag == "1") != (self.split == "train"):
                continue
            if class_id not in new_label:
                continue
            x, y, w, h = _floats(boxes_path, image_id, boxes[image_id])
            self.image_ids.append(image_id)
            self.ids.append(images[image_id][0])
            self.labels.append(new_label[class_id])
            self._boxes.append((x, y, w, h))
            if part_table is not None:
                self._parts.append(part_table[image_id])
        self._with_parts = part_table is not None
        if not self.ids:
            raise DataError(f"{root}: no images in split {self.split!r} with classes {self.classes!r}")

    def _read_parts(self, image_ids: set[int]) -> dict[int, Tensor]:
        names_path = self.root / "parts" / "parts.txt"
        locs_path = self.root / "parts" / "part_locs.txt"
        names = _by_id(names_path, _read_table(names_path, columns=2, maxsplit=1))
        part_ids = sorted(names)
        self.part_names: tuple[str, ...] = tuple(names[p][0] for p in part_ids)
        if not locs_path.is_file():
            raise DataError(f"{locs_path}: index file not found (pass parts=False to skip part locations)")
        # ~177k rows in CUB: parse in one vectorised pass; fall back to the line reader for errors
        try:
            flat = np.array(locs_path.read_text(encoding="utf-8").split(), dtype=np.float64)
        except ValueError:
            raise _malformed(locs_path, columns=5) from None
        if flat.size % 5:
            raise _malformed(locs_path, columns=5)
        rows = flat.reshape(-1, 5)
        img, pid = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
        known = np.array(part_ids)
        bad = ~np.isin(pid, known)
        if bad.any():
            raise DataError(f"{locs_path}: part id {pid[bad][0]} is not in {names_path}")
        bad = ~np.isin(img, np.array(sorted(image_ids)))
        if bad.any():
            raise DataError(f"{locs_path}: image id {img[bad][0]} is not in images.txt")
        uniq, inv = np.unique(img, return_inverse=True)
        visible = rows[:, 4] > 0
        out = np.zeros((len(uniq), len(part_ids), 3), dtype=np.float32)
        col = np.searchsorted(known, pid)
        # CUB stores invisible parts as "0.0 0.0 0"; normalise any stray coordinates too.
        out[inv, col, 0] = np.where(visible, rows[:, 2], 0.0)
        out[inv, col, 1] = np.where(visible, rows[:, 3], 0.0)
        out[inv, col, 2] = visible
        missing = sorted(image_ids - set(uniq.tolist()))
        if missing:
            raise DataError(f"{locs_path}: no part rows for image id(s) {missing[:5]}")
        return {int(u): torch.from_numpy(out[i]) for i, u in enumerate(uniq)}

    # -- samples ----------------------------------------------------------------------------
    def image_path(self, index: int) -> Path:
        return self.root / "images" / self.ids[index]

    def mask_path(self, index: int) -> Path:
        if self.segmentation_root is None:
            raise DataError(f"{self.root}: masks were not requested (masks=False)")
        return self.segmentation_root / Path(self.ids[index]).with_suffix(".png")

    def _load(self, index: int) -> Sample:
        image_path = self.image_path(index)
        image = load_image(image_path)
        mask = None
        if self.has_masks:
            mask_path = self.mask_path(index)
            mask = load_mask(mask_path)
            if mask.shape[-2:] != image.shape[-2:]:
                raise DataError(
                    f"{mask_path}: mask is {mask.shape[-1]}x{mask.shape[-2]} but its image {image_path} "
                    f"is {image.shape[-1]}x{image.shape[-2]}"
                )
        parts = self._parts[index].clone() if self._with_parts else None
        return Sample(
            image=image, label=self.labels[index], id=self.ids[index], mask=mask, bbox=self._boxes[index], parts=parts
        )
