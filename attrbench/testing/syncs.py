"""Count the calls that would make the host wait for the device (issue 17, item 5).

On a GPU, ``tensor.item()``, ``bool(tensor)``, ``.tolist()``, ``.cpu()``, ``.nonzero()`` and
friends block the Python thread until every queued kernel has run. A metric that does one of
them per curve step or per sample serialises the device with the host. There is no GPU in CI, so
:class:`HostSyncCounter` counts the *calls* instead, with a
:class:`torch.overrides.TorchFunctionMode` that sees every tensor method and torch function
called from Python: a test can then assert that the count does not grow with the number of
steps, samples or tie orders.

Counted: :data:`SYNC_CALLS` by name, ``.to()`` / ``.copy_()`` towards the CPU, and indexing with a
boolean mask (its result's size depends on the data).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["SYNC_CALLS", "HostSyncCounter"]

#: tensor methods / torch functions whose result the host must wait for.
SYNC_CALLS: frozenset[str] = frozenset({
    "item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__", "nonzero", "argwhere",
    "unique", "unique_consecutive", "masked_select", "equal", "allclose",
})  # fmt: skip


def _is_cpu(device: Any) -> bool:
    return (isinstance(device, str) and device.startswith("cpu")) or (isinstance(device, torch.device) and device.type == "cpu")


def _syncs(name: str, args: tuple, kwargs: dict) -> bool:
    if name in SYNC_CALLS:
        return True
    if name == "to":
        return any(_is_cpu(a) for a in (*args[1:], kwargs.get("device")))
    if name == "__getitem__" and len(args) > 1:
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        return any(torch.is_tensor(i) and i.dtype == torch.bool for i in index)
    return False


class HostSyncCounter(TorchFunctionMode):
    """``with HostSyncCounter() as c: ...`` then ``c.total`` and ``c.calls`` (name -> count)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    @property
    def total(self) -> int:
        """All host-synchronising calls seen."""
        return sum(self.calls.values())

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if _syncs(name, args, kwargs):
            self.calls[name] += 1
        return func(*args, **kwargs)
