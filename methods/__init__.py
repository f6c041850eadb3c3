"""Attribution methods: one file each. ``METHODS`` is the only registration (name -> "module:Class")."""

from __future__ import annotations

from attrbench.api import AttributionMethod
from attrbench.registry import Registry

METHODS: dict[str, str] = {
}

registry = Registry("methods", METHODS, base=AttributionMethod)


def list_methods(pattern: str | None = None) -> list[str]:
    """Registered method names (built-in and entry points), optionally filtered by a glob."""
    return registry.names(pattern)


def get_method(name: str) -> type[AttributionMethod]:
    """The method class for a name or an external ``"pkg.module:Class"``."""
    return registry.get(name)


__all__ = ["METHODS", "get_method", "list_methods", "registry"]
