"""Metrics: one file each. ``METRICS`` is the only registration (name -> "module:Class")."""

from __future__ import annotations

from attrbench.errors import OptionTypeError
from attrbench.registry import Registry

METRICS: dict[str, str] = {
    "gt": "attrbench.metrics.gt:GroundTruthAgreement",
    "gt_cell": "attrbench.metrics.gt_cell:CellGroundTruthAgreement",
    "deletion": "attrbench.metrics.deletion:Deletion",
    "insertion": "attrbench.metrics.insertion:Insertion",
    "patch_deletion": "attrbench.metrics.patch_deletion:PatchDeletion",
    "road": "attrbench.metrics.road:Road",
    "localisation": "attrbench.metrics.localisation:Localisation",
    "randomisation": "attrbench.metrics.randomisation:Randomisation",
    "random_logit": "attrbench.metrics.random_logit:RandomLogit",
    "runtime": "attrbench.metrics.runtime:Runtime",
}

registry = Registry("metrics", METRICS)


def get_metric(name: str) -> type:
    """The metric class for a name or an external ``"pkg.module:Class"``."""
    from attrbench.metrics.base import Metric

    cls = registry.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise OptionTypeError(f"{name!r} resolves to {cls!r}, which is not a subclass of attrbench.metrics.base.Metric")
    return cls


def list_metrics(pattern: str | None = None) -> list[str]:
    return registry.names(pattern)


__all__ = ["METRICS", "get_metric", "list_metrics", "registry"]
