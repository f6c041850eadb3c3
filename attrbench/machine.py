"""The machine a command ran on, for the records of trainings (CPU model, threads, load)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["load_average", "machine_info"]


def _cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the platform has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, logical CPUs, torch threads, platform and the load average now."""
    import torch

    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "load_average": load_average(),
    }
