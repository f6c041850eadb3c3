"""Shared dataset machinery: the :class:`ImageDataset` base, image/mask loading, crop and resize.

Every dataset yields :class:`attrbench.api.Sample` objects whose geometry (mask, bbox, parts)
is expressed in pixels of the *returned* image. Pixel convention: pixel (row i, column j)
covers the square [j, j+1) x [i, i+1), so a point (x, y) lies in pixel (floor(y), floor(x)) and a
resize by factors (sx, sy) maps it to (x * sx, y * sy); a box (x, y, w, h) maps to
(x * sx, y * sy, w * sx, h * sy).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from torch.utils.data import Dataset

from attrbench.api import Sample
from attrbench.datasets.imageio import image_size_of, load_image, load_mask
from attrbench.datasets.isolation import SampleError
from attrbench.datasets.transforms import DEFAULT_RESIZE, check_resize, output_size, transform_sample
from attrbench.errors import DataError, OptionError

__all__ = [
    "CROPS",
    "ImageDataset",
    "crop_sample",
    "image_size_of",
    "load_image",
    "load_mask",
    "resize_sample",
]

#: accepted values of the ``crop`` option.
CROPS: tuple[str | None, ...] = (None, "bbox")


def resize_sample(sample: Sample, size: int) -> Sample:
    """Resize a sample to ``size`` x ``size`` ignoring its aspect ratio (``--resize squash``).

    Mask, bbox and parts follow (:func:`attrbench.datasets.transforms.transform_sample`).
    """
    return transform_sample(sample, size=size, mode="squash")


def crop_sample(sample: Sample, box: tuple[float, float, float, float]) -> Sample:
    """Crop a sample to the pixels covering ``box`` = (x, y, w, h).

    The crop spans columns floor(x) .. ceil(x + w) - 1 and rows floor(y) .. ceil(y + h) - 1,
    clipped to the image. The bbox and parts are shifted into the crop; parts that fall outside
    it become invisible ``(0, 0, 0)``.
    """
    _, h, w = sample.image.shape
    x, y, bw, bh = box
    x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
    x1, y1 = min(w, math.ceil(x + bw)), min(h, math.ceil(y + bh))
    if x1 <= x0 or y1 <= y0:
        raise DataError(f"sample {sample.id!r}: bounding box {box} lies outside the {w}x{h} image")
    image = sample.image[:, y0:y1, x0:x1].contiguous()
    mask = None if sample.mask is None else sample.mask[:, y0:y1, x0:x1].contiguous()
    bbox = None
    if sample.bbox is not None:
        sx, sy, sw, sh = sample.bbox
        bbox = (sx - x0, sy - y0, sw, sh)
    parts = None
    if sample.parts is not None:
        parts = sample.parts.clone()
        parts[:, 0] -= x0
        parts[:, 1] -= y0
        vis = sample.parts[:, 2] > 0
        inside = (parts[:, 0] >= 0) & (parts[:, 0] < x1 - x0) & (parts[:, 1] >= 0) & (parts[:, 1] < y1 - y0)
        parts[~(vis & inside)] = 0.0
    return Sample(image=image, label=sample.label, id=sample.id, mask=mask, bbox=bbox, parts=parts)


class ImageDataset(Dataset, ABC):
    """Base of every attrbench dataset: yields :class:`~attrbench.api.Sample`.

    A subclass fills ``self.ids`` (unique strings), ``self.labels`` (ints, -1 = unknown, i.e. the
    runner uses the model's top prediction) and ``self._class_names``, sets the flags
    ``_has_masks`` / ``_has_bboxes`` (class level, or per instance if they depend on options)
    and implements :meth:`_load` at the file's native resolution. The base applies the optional crop and resize,
    so every dataset handles geometry the same way.

    Args:
        image_size: bring every image to ``image_size`` x ``image_size``, or to (H, W) if a
            pair (e.g. a ``ModelSpec.input_size``); None keeps the file's size (then images of
            different sizes cannot be batched).
        resize: how (``--resize``): "shorter-crop" (default), "squash" or "pad"; masks, boxes and
            parts follow exactly (:mod:`attrbench.datasets.transforms`).
        crop: None, or "bbox" to crop to the bounding box before resizing (the Explanatory Graph
            protocol, Zhang et al., AAAI 2018); needs boxes.
    """

    #: class defaults; a subclass whose answer depends on options sets them per instance.
    _has_masks: bool = False
    _has_bboxes: bool = False

    def __init__(self, *, image_size: int | tuple[int, int] | None = None, crop: str | None = None,
                 resize: str = DEFAULT_RESIZE) -> None:  # fmt: skip
        if image_size is not None:
            try:
                h, w = output_size(image_size)
            except OptionError:
                raise OptionError(f"image_size must be a positive int, a (height, width) pair or None, got {image_size!r}") from None
            image_size = h if h == w else (h, w)
        self.resize = check_resize(resize)
        if crop not in CROPS:
            raise OptionError(f"crop must be one of {CROPS}, got {crop!r}")
        if crop == "bbox" and not self.has_bboxes:
            raise OptionError(f"{type(self).__name__} has no bounding boxes, so crop='bbox' is not possible")
        self.image_size = image_size
        self.crop = crop
        self.ids: list[str] = []
        self.labels: list[int] = []
        self._class_names: tuple[str, ...] = ()

    # -- metadata ---------------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names; index = label."""
        return self._class_names

    @property
    def has_masks(self) -> bool:
        """Samples carry object masks."""
        return self._has_masks

    @property
    def has_bboxes(self) -> bool:
        """Samples carry bounding boxes."""
        return self._has_bboxes

    @property
    def num_classes(self) -> int:
        return len(self._class_names)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={len(self)}, classes={self.num_classes}, image_size={self.image_size}, "
            f"resize={self.resize}, crop={self.crop}, masks={self.has_masks}, bboxes={self.has_bboxes})"
        )

    # -- samples ----------------------------------------------------------------------------
    @abstractmethod
    def _load(self, index: int) -> Sample:
        """The sample at ``index`` (0 <= index < len) at the file's native resolution."""

    def __getitem__(self, index: int) -> Sample:
        """The sample at ``index``, cropped and brought to ``image_size`` by ``resize``.

        Raises:
            SampleError: (a :class:`DataError`) this sample's files are missing, corrupt or
                invalid; the message names the file. Other samples are unaffected, see
                :mod:`attrbench.datasets.isolation`.
        """
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {n}")
        index %= n
        try:
            sample = self._load(index)
            if self.crop == "bbox":
                if sample.bbox is None:
                    raise DataError(f"sample {sample.id!r} has no bounding box to crop to")
                sample = crop_sample(sample, sample.bbox)
        except SampleError:
            raise
        except DataError as exc:  # lazy validation: this sample fails, the others still load
            raise SampleError(str(exc), index=index, sample_id=self.ids[index]) from None
        if self.image_size is not None:
            sample = transform_sample(sample, size=self.image_size, mode=self.resize)
        return sample
