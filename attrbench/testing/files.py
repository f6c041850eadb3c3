"""Hand-built files for input-validation tests: PNG headers by construction, image files per mode."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

__all__ = ["png_header_only"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(path: str | Path, *, width: int, height: int) -> Path:
    """Write a PNG whose header claims ``width`` x ``height`` 8-bit grey pixels, with one tiny IDAT.

    The file is a few dozen bytes, however large the claimed size: a decompression-bomb probe
    that costs nothing to write (a reader must refuse it from the header, before decoding).
    """
    path = Path(path)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00")) + _chunk(b"IEND", b"")
    path.write_bytes(data)
    return path
