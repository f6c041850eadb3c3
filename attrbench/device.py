"""Pick the device once (CUDA when present, else CPU) and pass it explicitly."""

from __future__ import annotations

import torch

from attrbench.errors import OptionError

__all__ = ["resolve_device"]


def resolve_device(name: str | None = None) -> torch.device:
    """``None`` or ``"auto"`` -> CUDA if available else CPU; otherwise ``torch.device(name)``.

    Raises:
        ValueError: CUDA was asked for but is not available.
    """
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"device {name!r} requested but CUDA is not available on this machine; use --device cpu")
    return device
