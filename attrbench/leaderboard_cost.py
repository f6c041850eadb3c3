"""Where a leaderboard run's time goes, and what the same run costs at another sample count.

A run stores its wall seconds per phase in ``config.json`` (``phase_seconds``,
:class:`attrbench.phases.PhaseClock`): ``"method <label>"`` per method call, ``"metric <spec>"``
per metric (summed over methods), and the fixed phases ``"load"`` and ``"merge and summary"``.
:func:`components` groups them into the leaderboard's components (all methods together, each
metric, set-up, writing), and :func:`project` scales a measured run of ``measured`` images to
``target`` images:

* fixed phases (:data:`FIXED_PHASES`) are paid once per run and are not scaled;
* a metric that only scores the first ``max_samples`` samples (``randomisation`` always, with its
  class default when the spec does not set it; ``deletion``/``insertion`` with ``max_samples``)
  scales by min(target, cap) / min(measured, cap);
* everything else (methods, the other metrics, writing units) scales by target / measured.

So a short run (n = 8) whose randomisation scored every one of its samples is not extrapolated
as if randomisation were paid on every one of 200 images. The projection is linear in the
number of images; batching makes the first batch a little dearer per image than later ones, so
it errs on the high side for n below the batch size. Used by ``scripts/profile_leaderboard.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FIXED_PHASES", "components", "metric_cap", "project"]

#: phases paid once per run, whatever the number of samples.
FIXED_PHASES: tuple[str, ...] = ("load", "merge and summary")


def metric_cap(spec: str) -> int | None:
    """Samples a metric spec scores at most (None: every sample), using the metric's own default.

    Example: ``metric_cap("randomisation[max_samples=8,floor=true]") == 8``;
    ``metric_cap("randomisation") == 2`` (the class default); ``metric_cap("gt") is None``.
    """
    import inspect

    from attrbench.metrics import get_metric
    from attrbench.runspec import parse_spec

    name, options = parse_spec(spec)
    if "max_samples" in options:
        cap = options["max_samples"]
    else:
        parameter = inspect.signature(get_metric(name).__init__).parameters.get("max_samples")
        cap = None if parameter is None else parameter.default
    return None if cap is None else int(cap)


def components(record: Mapping[str, Any]) -> dict[str, float]:
    """Seconds per component of a ``phase_seconds`` record: "methods" (every method call), each
    ``metric <spec>``, and the other phases as they are (in first-seen order)."""
    out: dict[str, float] = {}
    for phase, seconds in record.get("phases", {}).items():
        key = "methods" if phase.startswith("method ") else phase
        out[key] = out.get(key, 0.0) + float(seconds)
    return out


def project(record: Mapping[str, Any], *, measured: int, target: int) -> dict[str, tuple[float, float]]:
    """Component -> (measured seconds, projected seconds at ``target`` images) (module docstring).

    Args:
        record: a run's ``phase_seconds`` (config.json).
        measured: samples the run scored.
        target: samples to project to.

    Raises:
        ValueError: ``measured`` or ``target`` below 1.
    """
    if measured < 1 or target < 1:
        raise ValueError(f"project: measured and target must be >= 1, got {measured} and {target}")
    out: dict[str, tuple[float, float]] = {}
    for name, seconds in components(record).items():
        if name in FIXED_PHASES:
            factor = 1.0
        else:
            cap = metric_cap(name.removeprefix("metric ")) if name.startswith("metric ") else None
            factor = target / measured if cap is None else min(target, cap) / min(measured, cap)
        out[name] = (seconds, seconds * factor)
    return out
