"""attrbench: judge image attribution methods against ground truth.

Not to be confused with the PyPI package ``attribench`` (a different benchmark).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate"]


def __getattr__(name: str):  # lazy: importing attrbench stays light
    if name == "evaluate":
        from attrbench.runner import evaluate

        return evaluate
    raise AttributeError(f"module 'attrbench' has no attribute {name!r}")
