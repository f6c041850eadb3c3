"""User-facing errors. The CLI prints these as one line and exits non-zero (2)."""

from __future__ import annotations

from attrbench.models.zoo import CheckpointError
from attrbench.registry import UnknownNameError

__all__ = ["CheckpointError", "DataError", "UnknownNameError", "USER_ERRORS", "AttributionError"]


class DataError(ValueError):
    """Bad input data: missing or corrupt image, missing mask, wrong size, empty dataset.

    The message names the file (or dataset root) and what is wrong.
    """


class AttributionError(RuntimeError):
    """A method returned unusable output (NaN/inf, wrong shape) for some samples."""


#: exceptions the CLI reports as a clear one-line message with exit code 2.
USER_ERRORS: tuple[type[BaseException], ...] = (
    DataError,
    CheckpointError,
    UnknownNameError,
    FileNotFoundError,
    ValueError,
    TypeError,
)
