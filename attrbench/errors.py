"""The project's error types and the errors the command line reports as user errors.

This is the bottom layer: it imports nothing from attrbench. Every error a user can cause with
an option, a name, a file or data has a type here; the CLI prints those as one line
``attrbench: error: ...`` and exits 2. Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import json

__all__ = [
    "CheckpointError",
    "DataError",
    "ExternalNameError",
    "ModelFactoryError",
    "OptionError",
    "OptionTypeError",
    "UnknownNameError",
    "USER_ERRORS",
]


class OptionError(ValueError):
    """A bad option value, option name or combination; the message names the option."""


class OptionTypeError(OptionError, TypeError):
    """An option of the wrong type (e.g. a string where an int is needed)."""


class ExternalNameError(OptionError, AttributeError):
    """A ``"pkg.module:attr"`` name that cannot be imported (no such module or attribute)."""


class ModelFactoryError(OptionError):
    """A user's ``--model module:factory`` failed (its import or the call raised, or it returned
    something else than a model); the message carries the factory's own message."""


class DataError(ValueError):
    """Bad input data: missing or corrupt image, missing mask, wrong size, empty dataset.

    The message names the file (or dataset root) and what is wrong.
    """


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


class UnknownNameError(KeyError):
    """An unknown registry name; the message suggests the closest ones."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written
        return str(self.args[0])


#: exceptions the CLI reports as a clear one-line message with exit code 2: the project's own
#: types, OS/IO errors (missing file, permission, full disk; PIL's UnidentifiedImageError is an
#: OSError) and errors decoding a user's file (JSON, text encoding).
USER_ERRORS: tuple[type[BaseException], ...] = (
    OptionError,
    DataError,
    CheckpointError,
    UnknownNameError,
    OSError,
    json.JSONDecodeError,
    UnicodeDecodeError,
)
