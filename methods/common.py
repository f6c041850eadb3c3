"""Helpers shared by the method files: argument checks, Captum adapters, seeding.

Public helpers of :mod:`attrbench.methods` (one method per file lives next to this module);
the embedding track's methods use them too.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from attrbench.api import Target
from attrbench.errors import OptionError, OptionTypeError

__all__ = [
    "TargetModule",
    "captum_args",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_optional_int",
    "grad_leaf",
    "per_sample_seeded",
    "quiet_captum",
    "resolve_layer",
    "sample_seeds",
    "seeded",
]


# --------------------------------------------------------------------------------------------
# Validation (constructors raise OptionTypeError / OptionError with the argument's name;
# they subclass TypeError / ValueError)
# --------------------------------------------------------------------------------------------
def check_int(name: str, value: object, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionTypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise OptionError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_optional_int(name: str, value: object, *, minimum: int = 1) -> int | None:
    return None if value is None else check_int(name, value, minimum=minimum)


def check_float(name: str, value: object, *, minimum: float | None = None, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionTypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise OptionError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise OptionError(f"{name} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise OptionError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise OptionError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return str(value)


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise OptionTypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def resolve_layer(model: nn.Module, layer: str | None, *, default: str | None, method: str) -> tuple[str, nn.Module]:
    """The CAM layer: explicit ``layer`` or the spec's ``cam_layer`` (never guessed).

    Returns:
        (dotted path, module).
    """
    path = layer if layer is not None else default
    if path is None:
        raise OptionError(
            f"{method} needs a layer: the model spec declares no cam_layer; pass layer='dotted.module.path'"
        )
    if not isinstance(path, str):
        raise OptionTypeError(f"layer must be a dotted module path (str), got {type(path).__name__}")
    try:
        module = model.get_submodule(path)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        raise OptionError(
            f"{method}: model has no submodule {path!r}; some available: {', '.join(names[-8:])}"
        ) from None
    return path, module


# --------------------------------------------------------------------------------------------
# Captum adapters
# --------------------------------------------------------------------------------------------
class TargetModule(nn.Module):
    """``model`` followed by the target, as one module: ``(x, *per_sample) -> (B,)``.

    Captum's module-based methods (DeepLift, GuidedBackprop, Deconvolution, GuidedGradCam) need
    an ``nn.Module``; wrapping keeps ``model`` untouched (no attribute is set on it).
    """

    def __init__(self, model: nn.Module, target: Target) -> None:
        super().__init__()
        self.model = model
        self.target = target

    def forward(self, x: Tensor, *per_sample: Tensor) -> Tensor:
        return self.target(self.model(x), *per_sample)


def grad_leaf(inputs: Tensor) -> Tensor:
    """A detached leaf of ``inputs`` that requires grad (the caller's tensor is left as it is).

    Captum warns when it has to switch ``requires_grad`` on by itself; handing it such a leaf
    avoids that and never touches the caller's tensor.
    """
    return inputs.detach().requires_grad_(True)


def captum_args(target: Target) -> tuple[Tensor, ...] | None:
    """``additional_forward_args`` for Captum: the target's per-sample tensors (expanded by Captum)."""
    return tuple(target.per_sample) if target.per_sample else None


@contextmanager
def quiet_captum() -> Iterator[None]:
    """Silence Captum's informational "Setting ... hooks" UserWarnings (nothing is wrong).

    Only these messages are ignored; any other warning still surfaces (tests run with
    ``filterwarnings = error``).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Setting (forward, )?backward hooks", category=UserWarning)
        yield


# --------------------------------------------------------------------------------------------
# Seeding: deterministic and batch-independent randomness
# --------------------------------------------------------------------------------------------
def sample_seeds(inputs: Tensor, seed: int) -> list[int]:
    """One 63-bit seed per sample from ``seed`` and the sample's pixel values.

    Why content: a stochastic method then gives a sample the same attribution whether it is
    explained alone or in any batch (its noise depends on nothing else), while different
    images still get independent noise. Identical images get identical noise.
    """
    key = int(seed).to_bytes(8, "little", signed=True)
    data = inputs.detach().to(device="cpu", dtype=torch.float64).contiguous().numpy()
    return [
        int.from_bytes(hashlib.blake2b(data[i].tobytes(), digest_size=8, key=key).digest(), "little") >> 1
        for i in range(data.shape[0])
    ]


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch (CPU and ``device``) and numpy's global RNG; restore all states on exit.

    Captum draws from the global generators (NoiseTunnel: ``torch.normal``; GradientShap:
    ``np.random.uniform``), so they are seeded around the call and the caller's RNG state is
    left as it was.
    """
    devices = [device] if device.type == "cuda" else []
    np_state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            np.random.seed(seed % (2**32))
            yield
    finally:
        np.random.set_state(np_state)


def per_sample_seeded(fn, inputs: Tensor, target: Target, seed: int) -> Tensor:  # noqa: ANN001
    """Run ``fn(x_i, target_i)`` for each sample under its own seed (see :func:`sample_seeds`).

    Used for Captum's sampling methods, which draw noise for the whole expanded batch at once;
    the work per sample (n_samples forwards) is batched inside ``fn``, so the loop costs only
    Python overhead.
    """
    outs = []
    for i, s in enumerate(sample_seeds(inputs, seed)):
        with seeded(s, inputs.device):
            outs.append(fn(inputs[i : i + 1], target.subset(slice(i, i + 1))))
    return torch.cat(outs)
