"""Build a registered class from user options, turning a signature mismatch into an OptionError.

``ig[n_stpes=64]`` would otherwise fail inside Python's call machinery with a bare TypeError,
which the command line must treat as a bug; checking the options against the constructor's
signature first lets it name the bad option and list the accepted ones.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from attrbench.errors import OptionError

__all__ = ["accepted_options", "build_component"]

T = TypeVar("T")


def accepted_options(cls: type) -> list[str]:
    """Keyword-only constructor parameters of ``cls`` (the options a spec may set), in order."""
    params = inspect.signature(cls).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "spec"]


def build_component(cls: type[T], label: str, /, *args: Any, **kwargs: Any) -> T:
    """``cls(*args, **kwargs)`` after checking that the signature accepts these arguments.

    Args:
        cls: a method, metric or dataset class.
        label: the user's spec (e.g. ``"ig[n_steps=64]"``), named in the error.

    Raises:
        OptionError: an unknown or missing option.
    """
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as exc:
        options = ", ".join(accepted_options(cls)) or "none"
        raise OptionError(f"{label}: {exc}; accepted options: {options}") from None
    return cls(*args, **kwargs)
