"""One lazy registry pattern for methods, models, datasets and metrics.

Each kind keeps a plain mapping ``name -> "module:attr"`` in its package (``METHODS`` in
``attrbench.methods``, ``MODELS`` in ``attrbench.models``, ``DATASETS`` in ``attrbench.datasets``,
``METRICS`` in ``attrbench.metrics``). That mapping is the only registration: nothing registers
itself at import time. Lookups import on first use, so listing names imports no heavy module.

External objects are addressed as ``"pkg.module:attr"`` or published by another package under
an entry-point group ``attrbench.<kind>`` (e.g. ``attrbench.methods``).
"""

from __future__ import annotations

import difflib
import importlib
from importlib import metadata
from typing import Any

from attrbench.errors import ExternalNameError, OptionError, OptionTypeError, UnknownNameError

__all__ = ["Registry", "UnknownNameError", "import_object"]


def cwd_importable(module_name: str) -> None:
    """Make the working directory importable for a module outside attrbench, as ``python -m`` does.

    Inserts ``os.getcwd()`` at ``sys.path[0]`` unless it (or ``""``) is already on the path; names
    under ``attrbench`` never trigger it, so a user's file cannot shadow a built-in.
    """
    import os
    import sys

    if module_name.split(".", 1)[0] == "attrbench":
        return
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_object(spec: str) -> Any:
    """Import ``"pkg.module:attr"`` (attr may be dotted); the working directory is importable for it."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise OptionError(f"expected 'module:attr', got {spec!r}")
    cwd_importable(module_name)
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise  # the module exists but imports something missing: an installation problem, not a name
        raise ExternalNameError(f"cannot import module {module_name!r} for {spec!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ExternalNameError(f"module {module_name!r} has no attribute {attr!r} (from {spec!r})") from None
    return obj


class Registry:
    """Name -> object lookup over a ``name -> "module:attr"`` mapping.

    Args:
        kind: plural noun for messages and the entry-point group ("methods", "models", ...).
        mapping: the package's mapping (the single source of names).
        base: if given, looked-up classes must be subclasses of it.
    """

    def __init__(self, kind: str, mapping: dict[str, str], *, base: type | None = None) -> None:
        self.kind = kind
        self.mapping = mapping
        self.base = base

    def _entry_points(self) -> dict[str, str]:
        eps = metadata.entry_points(group=f"attrbench.{self.kind}")
        return {ep.name: ep.value for ep in eps}

    def names(self, pattern: str | None = None) -> list[str]:
        """Registered names (built-in and entry points), sorted; ``pattern`` is a glob."""
        import fnmatch

        names = sorted(set(self.mapping) | set(self._entry_points()))
        if pattern:
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return names

    def unknown(self, name: str) -> UnknownNameError:
        names = self.names()
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        singular = self.kind[:-1] if self.kind.endswith("s") else self.kind
        return UnknownNameError(
            f"Unknown {singular} {name!r}.{hint} Available: {', '.join(names)}. "
            f"An external {singular} is given as 'pkg.module:attr'."
        )

    def path(self, name: str) -> str:
        """The ``module:attr`` string behind ``name`` (or ``name`` itself if it is one)."""
        if name in self.mapping:
            return self.mapping[name]
        eps = self._entry_points()
        if name in eps:
            return eps[name]
        if ":" in name:
            return name
        raise self.unknown(name)

    def get(self, name: str) -> Any:
        """Import and return the object behind ``name``."""
        obj = import_object(self.path(name))
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise OptionTypeError(f"{name!r} resolves to {obj!r}, which is not a subclass of {self.base.__name__}")
        return obj

    def __contains__(self, name: str) -> bool:
        return name in self.mapping or name in self._entry_points()
