"""Datasets: one file each. ``DATASETS`` is the only registration (name -> "module:Class")."""

from __future__ import annotations

from attrbench.registry import Registry

DATASETS: dict[str, str] = {
}

registry = Registry("datasets", DATASETS)


def list_datasets(pattern: str | None = None) -> list[str]:
    return registry.names(pattern)


__all__ = ["DATASETS", "list_datasets", "registry"]
