"""attrbench: judge image attribution methods against ground truth.

Not to be confused with the PyPI package ``attribench`` (a different benchmark).

The public API is loaded lazily (``import attrbench`` imports neither torch nor pandas)::

    import attrbench
    records = attrbench.evaluate(methods=["ig"], n_samples=8)
    data = attrbench.load_run("results/runs/<run-id>")

Contracts for extensions (methods, metrics, tracks, datasets, models) are in :mod:`attrbench.api`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from attrbench.context import RunContext
    from attrbench.methods import get_method, list_methods
    from attrbench.metrics import get_metric, list_metrics
    from attrbench.results import load_run, summarise
    from attrbench.runner import evaluate, run
    from attrbench.runspec import RunConfig

#: public name -> module that defines it (imported on first access, as ``captum.attr`` does).
_LAZY: dict[str, str] = {
    "RunConfig": "attrbench.runspec",
    "RunContext": "attrbench.context",
    "evaluate": "attrbench.runner",
    "get_method": "attrbench.methods",
    "get_metric": "attrbench.metrics",
    "list_methods": "attrbench.methods",
    "list_metrics": "attrbench.metrics",
    "load_run": "attrbench.results",
    "run": "attrbench.runner",
    "summarise": "attrbench.results",
}

__all__ = [
    "RunConfig",
    "RunContext",
    "__version__",
    "evaluate",
    "get_method",
    "get_metric",
    "list_methods",
    "list_metrics",
    "load_run",
    "run",
    "summarise",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = vars(importlib.import_module(_LAZY[name]))[name]
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'attrbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
