"""Validation of an attrbench checkpoint's contents before a model is built from it.

:func:`attrbench.models.zoo.load_checkpoint` reads the file with ``torch.load(weights_only=True)``
(no code runs); this module then checks everything it is about to trust, so that a damaged or
hand-edited file gives a :class:`CheckpointError` naming the file and the entry, never a
traceback or a silently wrong model:

- ``arch`` a known architecture name; ``arch_kwargs`` an object with string keys; ``meta``
  (optional) an object;
- ``spec`` an object of :class:`~attrbench.api.ModelSpec` fields, each of its type (``kind``
  "classifier" or "embedding", ``input_size`` two positive ints, ``mean`` / ``std`` three finite
  numbers with ``std`` > 0, ...);
- ``state_dict`` an object of tensors, floating-point tensors finite (NaN weights would make every
  record NaN);
- the architecture, built on PyTorch's ``meta`` device (no memory, no compute), takes
  ``input_size`` images and returns ``num_outputs`` values, and its parameter names and shapes
  are exactly those of ``state_dict`` (only ``num_batches_tracked`` may be missing).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attrbench.api import ModelSpec

__all__ = ["build_checked", "check_payload", "check_spec"]

_KINDS = ("classifier", "embedding")


def _error(path: Path | str, entry: str, what: str) -> Exception:
    from attrbench.models.zoo import CheckpointError

    return CheckpointError(f"checkpoint {path}: {entry}: {what}")


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _numbers(v: Any, n: int) -> bool:
    return (
        isinstance(v, (list, tuple)) and len(v) == n
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
    )  # fmt: skip


def _strings(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)


_SPEC_RULES: dict[str, tuple[Any, str]] = {
    "name": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "kind": (lambda v: v in _KINDS, f"one of {_KINDS}"),
    "input_size": (lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(map(_pos_int, v)), "two positive ints"),
    "num_outputs": (_pos_int, "a positive int"),
    "mean": (lambda v: _numbers(v, 3), "three finite numbers"),
    "std": (lambda v: _numbers(v, 3) and all(x > 0 for x in v), "three finite numbers > 0"),
    "cam_layer": (lambda v: v is None or isinstance(v, str), "a string or None"),
    "cam_layers": (_strings, "a list of strings"),
    "receptive_field": (lambda v: v is None or _pos_int(v), "a positive int or None"),
    "rf_stride": (_pos_int, "a positive int"),
    "class_names": (_strings, "a list of strings"),
}


def check_spec(spec: Any, *, path: Path | str) -> ModelSpec:
    """The :class:`ModelSpec` of a checkpoint's ``spec`` entry, every field checked (module docstring)."""
    if not isinstance(spec, dict):
        raise _error(path, "spec", f"expected a dict of ModelSpec fields, got {type(spec).__name__}")
    known = {f.name for f in dataclasses.fields(ModelSpec)}
    unknown = sorted(str(k) for k in set(spec) - known)
    if unknown:
        raise _error(path, "spec", f"unknown ModelSpec fields {unknown}")
    if "name" not in spec:
        raise _error(path, "spec.name", "missing")
    for key, value in spec.items():
        ok, expected = _SPEC_RULES[key]
        if not ok(value):
            raise _error(path, f"spec.{key}", f"expected {expected}, got {value!r}")
    return ModelSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})


def check_payload(payload: dict[str, Any], *, path: Path | str) -> None:
    """Types of ``arch``, ``arch_kwargs``, ``meta`` and ``state_dict`` (finite tensors); see the module docstring."""
    from attrbench.models.zoo import ARCHS

    for key in ("arch", "arch_kwargs", "spec", "state_dict"):
        if key not in payload:
            raise _error(path, key, "missing")
    arch = payload["arch"]
    if not isinstance(arch, str) or arch not in ARCHS:
        raise _error(path, "arch", f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHS))}")
    kwargs = payload["arch_kwargs"]
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise _error(path, "arch_kwargs", f"expected a dict with string keys, got {type(kwargs).__name__}")
    if not isinstance(payload.get("meta", {}), dict):
        raise _error(path, "meta", f"expected a dict, got {type(payload['meta']).__name__}")
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise _error(path, "state_dict", f"expected a dict of tensors, got {type(state).__name__}")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise _error(path, f"state_dict[{key!r}]", f"expected a tensor, got {type(value).__name__}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise _error(path, f"state_dict[{key!r}]", "holds NaN or infinite values")


def _shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def build_checked(payload: dict[str, Any], spec: ModelSpec, *, path: Path | str) -> nn.Module:
    """Build ``payload["arch"]`` after checking it against ``spec`` and the state dict.

    The architecture is built on the meta device first and its parameter shapes are compared with
    the state dict's, so a wrong or absurd ``arch_kwargs`` allocates nothing. Only then is it
    built for real (as much memory as the state dict already holds) and run once on a zero image of
    ``spec.input_size`` to check the output shape: a forward on the meta device would cost more
    than loading (its first batch_norm / relu imports torch's compiler stack, about 3 s here).

    Returns:
        the network with its parameters allocated (not yet loaded).
    """
    from attrbench.models.zoo import build_arch

    arch, kwargs, state = payload["arch"], payload["arch_kwargs"], payload["state_dict"]
    cannot = f"cannot build {arch} with {kwargs!r} at {spec.input_size}"
    errors = (TypeError, ValueError, RuntimeError, IndexError, KeyError, OverflowError)
    try:
        with torch.device("meta"):
            own = _shapes(build_arch(arch, kwargs))
    except errors as exc:
        raise _error(path, "arch_kwargs", f"{cannot}: {exc}") from None
    given = {k: tuple(v.shape) for k, v in state.items()}
    missing = [k for k in own if k not in given and not k.endswith("num_batches_tracked")]
    extra = [k for k in given if k not in own]
    wrong = [f"{k}: {given[k]} vs model {own[k]}" for k in own if k in given and given[k] != own[k]]
    for label, items in (("missing keys", missing), ("unexpected keys", extra), ("keys with wrong shapes", wrong)):
        if items:
            raise _error(path, "state_dict", f"does not fit the model: {len(items)} {label} (first: {items[:3]})")
    net = build_arch(arch, kwargs)
    try:
        with torch.inference_mode():
            out = net.eval()(torch.zeros(1, 3, *spec.input_size))
    except errors as exc:
        raise _error(path, "arch_kwargs", f"{cannot}: {exc}") from None
    if tuple(out.shape) != (1, spec.num_outputs):
        raise _error(path, "spec.num_outputs", f"{spec.num_outputs}, but the network returns {tuple(out.shape)[1:]}")
    return net
