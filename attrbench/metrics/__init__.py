"""Metrics: one file each. ``METRICS`` is the only registration (name -> "module:Class")."""

from __future__ import annotations

from attrbench.registry import Registry

METRICS: dict[str, str] = {
}

registry = Registry("metrics", METRICS)


def list_metrics(pattern: str | None = None) -> list[str]:
    return registry.names(pattern)


__all__ = ["METRICS", "list_metrics", "registry"]
