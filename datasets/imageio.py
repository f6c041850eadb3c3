"""Reading image and mask files: one documented rule per PIL mode, one-line errors naming the file.

Every dataset reads its files through :func:`load_image` and :func:`load_mask` (re-exported by
:mod:`attrbench.datasets.base`). The rules are also in ``docs/input-files.md``.

Images become float RGB in [0, 1]:

    mode                        rule
    1                           0 / 1, replicated to three channels
    L, P, RGB, YCbCr            8-bit values / 255 (P through its palette, YCbCr by PIL's JFIF
                                conversion), grey replicated to three channels
    LA, PA, RGBA, RGBX          the alpha (or padding) channel is dropped, as CUB-200-2011's own
                                readers and torchvision's ``convert("RGB")`` do
    CMYK                        (R, G, B) = (1 - C)(1 - K), (1 - M)(1 - K), (1 - Y)(1 - K) with
                                C, M, Y, K / 255 (the naive subtractive model, no colour profile)
    I;16, I;16B, I;16L, I;16N   16-bit values / 65535 (a 16-bit PNG is not white any more)
    I (32-bit integer)          values must lie in 0..65535 (PIL decodes 16-bit files of several
                                formats into mode I) and are divided by 65535; otherwise refused
    F (32-bit float)            values must be finite and in [0, 1] and are used as they are;
                                otherwise refused (a float image in 0..255 would silently turn white)
    anything else (LAB, HSV, premultiplied alpha, ...)   refused

Masks become one float channel in [0, 1]:

    mode                        rule
    1                           0 / 1
    integer grey (L, I;16*, I)  values all in {0, 1}: a binary 0/1 mask, kept as is; otherwise
                                soft, divided by the type's maximum (255 or 65535; I as for images)
    F                           finite values in [0, 1], used as they are; otherwise refused
    LA, PA, RGBA, RGBX          the alpha (or padding) channel is dropped (CUB ships LA masks whose
                                alpha is not the mask)
    P                           read through its palette as RGB, then the RGB rule
    RGB                         all three channels equal everywhere: a grey mask (integer grey
                                rule); otherwise a colour-coded mask: any non-black pixel is object
                                (1), black is background (0)
    anything else (CMYK, YCbCr, LAB, ...)                refused

Files larger than PIL's ``Image.MAX_IMAGE_PIXELS`` (about 89 megapixels by default) are refused
as decompression bombs, before decoding.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from attrbench.errors import DataError

__all__ = [
    "IMAGE_MODES",
    "MASK_MODES",
    "image_array",
    "image_size_of",
    "load_image",
    "load_mask",
    "mask_array",
    "open_image",
]

#: modes :func:`image_array` accepts.
IMAGE_MODES: tuple[str, ...] = (
    "1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I;16", "I;16B", "I;16L", "I;16N", "I", "F",
)  # fmt: skip
#: modes :func:`mask_array` accepts.
MASK_MODES: tuple[str, ...] = (
    "1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "I;16", "I;16B", "I;16L", "I;16N", "I", "F",
)  # fmt: skip

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
_DROP_ALPHA = {"LA": "L", "PA": "RGBA", "RGBA": "RGB", "RGBX": "RGB"}
_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)


def _bomb(path: Path, what: str, exc: BaseException) -> DataError:
    limit = Image.MAX_IMAGE_PIXELS
    return DataError(
        f"{path}: {what} refused as a possible decompression bomb (more than {limit} pixels, "
        f"PIL.Image.MAX_IMAGE_PIXELS): {exc}"
    )


def open_image(path: str | Path, *, what: str = "image", decode: bool = True) -> Image.Image:
    """Open ``path`` with PIL; refuse decompression bombs; decode fully unless ``decode`` is False.

    PIL's ``DecompressionBombWarning`` (more than ``MAX_IMAGE_PIXELS`` pixels) and
    ``DecompressionBombError`` (more than twice that) both become a :class:`DataError`.

    Args:
        path: the file.
        what: "image" or "mask", for messages.
        decode: decode the pixels now (so truncated files fail here), or read the header only.

    Raises:
        DataError: missing, unreadable, truncated or oversized file; the message names it.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            if decode:
                img.load()
    except FileNotFoundError:
        raise DataError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: {what} path is a folder, not a file") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _bomb(path, what, exc) from None
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read {what} (corrupt or not an image): {exc}") from None
    return img


def image_size_of(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file from its header only (no decoding)."""
    img = open_image(path, decode=False)
    try:
        return img.size
    finally:
        img.close()


def _integer_range(arr: np.ndarray, *, path: Path, what: str, mode: str) -> float:
    """The divisor of an integer array of ``mode``: 255, 65535, or 65535 for 'I' within 0..65535."""
    if arr.dtype == np.uint8:
        return 255.0
    if mode in _SIXTEEN_BIT:
        return 65535.0
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise DataError(
            f"{path}: 32-bit integer {what} (mode I) with values {lo}..{hi}; only 0..65535 (16-bit data) is "
            "understood, save it as an 8- or 16-bit file"
        )
    return 65535.0


def _float_values(arr: np.ndarray, *, path: Path, what: str) -> np.ndarray:
    if not np.isfinite(arr).all():
        raise DataError(f"{path}: float {what} (mode F) holds NaN or infinite values")
    if arr.size and (float(arr.min()) < 0.0 or float(arr.max()) > 1.0):
        raise DataError(
            f"{path}: float {what} (mode F) has values in [{float(arr.min()):g}, {float(arr.max()):g}], "
            "expected [0, 1]; rescale it or save it as an 8- or 16-bit file"
        )
    return arr.astype(np.float32)


def _unsupported(path: Path, what: str, mode: str, modes: tuple[str, ...]) -> DataError:
    return DataError(f"{path}: {what} mode {mode!r} is not supported (supported: {', '.join(modes)})")


def _palette_to_rgb(img: Image.Image) -> Image.Image:
    """A 'P' or 'PA' image through its palette; transparency becomes alpha, then is dropped."""
    rgba = img.convert("RGBA") if (img.mode == "PA" or "transparency" in img.info) else None
    return rgba.convert("RGB") if rgba is not None else img.convert("RGB")


def image_array(img: Image.Image, *, path: str | Path) -> np.ndarray:
    """Pixels of a decoded image as float32 RGB in [0, 1] by the module's per-mode rule.

    Args:
        img: a decoded PIL image of any mode in :data:`IMAGE_MODES`.
        path: the file, for messages.

    Returns:
        (H, W, 3) float32 in [0, 1].

    Raises:
        DataError: unsupported mode or out-of-range values (32-bit integer or float images).
    """
    path, mode = Path(path), img.mode
    if mode not in IMAGE_MODES:
        raise _unsupported(path, "image", mode, IMAGE_MODES)
    img, mode = _without_palette_or_alpha(img)
    if mode == "YCbCr":
        img, mode = img.convert("RGB"), "RGB"
    if mode == "1":
        arr = np.array(img, dtype=np.float32)
    elif mode == "F":
        arr = _float_values(np.array(img, dtype=np.float32), path=path, what="image")
    elif mode == "CMYK":
        c, m, y, k = np.moveaxis(np.array(img, dtype=np.float32) / 255.0, -1, 0)
        arr = np.stack([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)], axis=-1)
    else:
        raw = np.array(img)
        arr = raw.astype(np.float32) / _integer_range(raw, path=path, what="image", mode=mode)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr, dtype=np.float32)


def _without_palette_or_alpha(img: Image.Image) -> tuple[Image.Image, str]:
    """A palette image as RGB through its palette; alpha dropped (module rules); other modes as they are."""
    mode = img.mode
    if mode in ("P", "PA"):
        return _palette_to_rgb(img), "RGB"
    if mode in _DROP_ALPHA:
        img = img.convert(_DROP_ALPHA[mode]) if mode != "LA" else img.getchannel(0)
    return img, img.mode


def _grey_mask(raw: np.ndarray, *, path: Path, mode: str) -> np.ndarray:
    """Integer grey values: {0, 1} kept as a binary mask, else divided by the type's maximum."""
    if raw.size and int(raw.min()) >= 0 and int(raw.max()) <= 1:
        return raw.astype(np.float32)
    return raw.astype(np.float32) / _integer_range(raw, path=path, what="mask", mode=mode)


def mask_array(img: Image.Image, *, path: str | Path) -> np.ndarray:
    """Pixels of a decoded mask as one float32 channel in [0, 1] by the module's per-mode rule.

    Args:
        img: a decoded PIL image of any mode in :data:`MASK_MODES`.
        path: the file, for messages.

    Returns:
        (H, W) float32 in [0, 1].

    Raises:
        DataError: unsupported mode or out-of-range values.
    """
    path, mode = Path(path), img.mode
    if mode not in MASK_MODES:
        raise _unsupported(path, "mask", mode, MASK_MODES)
    img, mode = _without_palette_or_alpha(img)
    if mode == "1":
        return np.array(img, dtype=np.float32)
    if mode == "F":
        return _float_values(np.array(img, dtype=np.float32), path=path, what="mask")
    raw = np.array(img)
    if mode == "RGB":
        if (raw[..., 0] == raw[..., 1]).all() and (raw[..., 1] == raw[..., 2]).all():
            return _grey_mask(raw[..., 0], path=path, mode="L")
        return raw.any(axis=-1).astype(np.float32)
    return _grey_mask(raw, path=path, mode=mode)


def load_image(path: str | Path) -> Tensor:
    """Read an image file as float RGB in [0, 1] (per-mode rule: module docstring).

    Args:
        path: image file.

    Returns:
        (3, H, W) float32 in [0, 1].

    Raises:
        DataError: the file is missing, corrupt, oversized, of an unsupported mode or out of
            range; the message names the file.
    """
    with open_image(path, what="image") as img:
        arr = image_array(img, path=path)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def load_mask(path: str | Path) -> Tensor:
    """Read a (soft) object mask as one channel in [0, 1] (per-mode rule: module docstring).

    Args:
        path: mask file (PNG in CUB-200-2011).

    Returns:
        (1, H, W) float32 in [0, 1].

    Raises:
        DataError: the file is missing, corrupt, oversized, of an unsupported mode or out of
            range; the message names the file.
    """
    with open_image(path, what="mask") as img:
        arr = mask_array(img, path=path)
    return torch.from_numpy(arr).unsqueeze(0).contiguous()
