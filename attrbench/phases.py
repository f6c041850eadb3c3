"""Where a run's time goes: wall seconds per phase, and the cost per image of each method.

A :class:`PhaseClock` is owned by the :class:`~attrbench.context.RunContext`. The runner times
"load" (opening the run: model, data, methods), "write" (storing units) and "merge" (merging
parts and summarising); :func:`attrbench.scoring.score_unit` adds each method call as
``"method <label>"`` and each metric's ``compute`` as ``"metric <label>"``, and charges both to
the method (its attribution plus every metric scored on its maps), so that
:meth:`PhaseClock.per_image` gives the cost per image of each method. The record
(:meth:`PhaseClock.as_record`) is stored in ``config.json`` under ``"phase_seconds"`` and printed at
the end of ``attrbench run`` (:meth:`PhaseClock.lines`).

Times are wall seconds from :func:`time.perf_counter`; on CUDA a phase is synchronised at its
end (once per unit and metric, never inside a metric's batch loop).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["PhaseClock"]


@dataclass
class PhaseClock:
    """Accumulated wall seconds per phase and per method (module docstring).

    Attributes:
        seconds: phase name -> seconds, in the order phases first ran.
        method_seconds: method label -> seconds of its attribution and of the metrics on its maps.
        method_images: method label -> images it explained.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    method_seconds: dict[str, float] = field(default_factory=dict)
    method_images: dict[str, int] = field(default_factory=dict)

    def add(self, phase: str, seconds: float, *, method: str | None = None, images: int = 0) -> None:
        """Add ``seconds`` to ``phase`` (and to ``method``'s cost, with ``images`` explained)."""
        self.seconds[phase] = self.seconds.get(phase, 0.0) + float(seconds)
        if method is not None:
            self.method_seconds[method] = self.method_seconds.get(method, 0.0) + float(seconds)
            self.method_images[method] = self.method_images.get(method, 0) + int(images)

    @contextmanager
    def phase(self, name: str, *, device: torch.device | None = None, method: str | None = None) -> Iterator[None]:
        """Time the ``with`` block as ``name`` (synchronising ``device`` at its end when it is CUDA)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if device is not None and device.type == "cuda":
                torch.cuda.synchronize(device)
            self.add(name, time.perf_counter() - t0, method=method)

    def per_image(self) -> dict[str, float]:
        """Method label -> seconds per explained image (attribution plus its metrics)."""
        return {m: s / self.method_images[m] for m, s in self.method_seconds.items() if self.method_images.get(m)}

    def as_record(self) -> dict[str, Any]:
        """JSON-ready record for config.json: phases, total, and per-method costs (seconds, rounded to ms)."""
        return {
            "phases": {k: round(v, 3) for k, v in self.seconds.items()},
            "total": round(sum(self.seconds.values()), 3),
            "per_image": {m: round(v, 4) for m, v in self.per_image().items()},
            "images": dict(self.method_images),
        }

    @staticmethod
    def lines(record: dict[str, Any]) -> list[str]:
        """Human-readable lines of a stored record (:meth:`as_record`), for the end of a run."""
        phases = record.get("phases", {})
        total = float(record.get("total", 0.0)) or 1.0
        out = ["time per phase (wall seconds):"]
        out += [f"  {name:<40s} {sec:8.2f}  {100 * sec / total:5.1f}%" for name, sec in phases.items()]
        out.append(f"  {'total':<40s} {record.get('total', 0.0):8.2f}")
        for method, sec in record.get("per_image", {}).items():
            out.append(f"cost of {method}: {sec:.3f} s per image (attribution and metrics)")
        return out
