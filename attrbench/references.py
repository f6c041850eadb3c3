"""Reference rows of a run: shown in every table, never ranked, never marked best or tied.

A method is a reference row when its ``MethodInfo.reference`` is true (random, sobel, the oracle,
...) or, on a BagNet, when it explains the model's last layer (``spec.cam_layer``) by its layer map:
Grad-CAM there *is* the patch truth on the patch grid (issue 10), so it is the ceiling of the
patch-grid family, not a competitor. The run records the list (``config.json``,
``reference_methods``); export, report and leaderboard add it to the registered references
(:func:`declared_references`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["declared_references", "is_reference"]


def is_reference(*, info: Any, layer: str | None, model_spec: Any) -> bool:
    """Is a method with ``info`` (and layer ``layer``, None for other methods) a reference row on this model?"""
    if getattr(info, "reference", False):
        return True
    bagnet = getattr(model_spec, "receptive_field", None) is not None
    return bagnet and layer is not None and layer == getattr(model_spec, "cam_layer", None)


def declared_references(configs: Iterable[Mapping[str, Any]]) -> set[str]:
    """Method labels the runs' ``config.json`` declare as reference rows."""
    out: set[str] = set()
    for config in configs:
        out |= set(config.get("reference_methods") or [])
    return out
