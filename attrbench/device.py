"""Pick the device once (CUDA when present, else CPU) and pass it explicitly."""

from __future__ import annotations

import difflib

import torch

from attrbench.errors import OptionError

__all__ = ["resolve_device"]


def resolve_device(name: str | None = None) -> torch.device:
    """``None`` or ``"auto"`` -> CUDA if available else CPU; otherwise ``torch.device(name)``.

    Raises:
        OptionError: an unknown device type, or CUDA / MPS asked for but not available.
    """
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind = str(name).strip().split(":", 1)[0].lower()
    if kind not in _KNOWN:
        close = "cuda" if kind == "gpu" else (difflib.get_close_matches(kind, _KNOWN, n=1, cutoff=0.3) or ["cpu"])[0]
        raise OptionError(f"--device {name!r} is not a device; did you mean {close!r}? (cpu, cuda, cuda:N, mps, auto)")
    try:
        device = torch.device(str(name).strip().lower())
    except RuntimeError as exc:
        raise OptionError(f"--device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"device {name!r} requested but CUDA is not available on this machine; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise OptionError(f"device {name!r} requested but MPS (Apple GPU) is not available on this machine; "
                          "use --device cpu or cuda")  # fmt: skip
    return device


#: device types a run accepts (``gpu`` is refused with a did-you-mean ``cuda``).
_KNOWN = ("cpu", "cuda", "mps")
