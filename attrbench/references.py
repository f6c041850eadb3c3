"""Reference rows of a run: shown in every table, never ranked, never marked best or tied.

A method is a reference row when its ``MethodInfo.reference`` is true (random, sobel, the oracle,
...) or, on a BagNet, when it is one of :data:`PATCH_TRUTH_AT_LAST_LAYER` at the model's last layer
(``spec.cam_layer``): Grad-CAM there *is* the patch truth on the patch grid (the fc weights times
the last activations are the patch logits up to the bias; issue 10), so it is the ceiling of the
patch-grid family, not a competitor. Other CAMs at that layer (Grad-CAM++, Guided Grad-CAM) are
not the truth and stay ranked. The run records the list (``config.json``,
``reference_methods``); export, report and leaderboard add it to the registered references
(:func:`declared_references`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrbench.api import MethodInfo, ModelSpec

__all__ = ["PATCH_TRUTH_AT_LAST_LAYER", "declared_references", "is_reference", "run_declarations"]

#: method names whose map at a BagNet's last layer equals the patch truth.
PATCH_TRUTH_AT_LAST_LAYER: tuple[str, ...] = ("gradcam",)


def is_reference(*, info: MethodInfo, layer: str | None, model_spec: ModelSpec) -> bool:
    """Is a method with ``info`` (and layer ``layer``, None for other methods) a reference row on this model?"""
    if info.reference:
        return True
    bagnet = model_spec.receptive_field is not None
    last = layer is not None and layer == model_spec.cam_layer
    return bagnet and last and info.name in PATCH_TRUTH_AT_LAST_LAYER


def declared_references(configs: Iterable[Mapping[str, Any]]) -> set[str]:
    """Method labels the runs' ``config.json`` declare as reference rows."""
    out: set[str] = set()
    for config in configs:
        out |= set(config.get("reference_methods") or [])
    return out


def run_declarations(ctx: Any) -> dict[str, Any]:
    """What a run declares in ``config.json`` for issue 10: ``coverage_fraction`` (share of pixels
    some output sees, :func:`attrbench.geometry.model_coverage_fraction`), ``sample_ids`` (the chosen
    samples, :mod:`attrbench.sampling`) and ``reference_methods`` (:func:`is_reference`).

    Args:
        ctx: an opened :class:`attrbench.context.RunContext`.
    """
    from attrbench.geometry import model_coverage_fraction
    from attrbench.sampling import sample_ids

    spec = ctx.model.spec
    return {
        "coverage_fraction": model_coverage_fraction(ctx.model, size=tuple(spec.input_size)),
        "sample_ids": sample_ids(ctx.dataset, list(ctx.samples.indices)),
        "reference_methods": [m.label for m in ctx.methods
                              if is_reference(info=m.cls.info, layer=m.instance.layer, model_spec=spec)],
    }  # fmt: skip
