"""Memory-aware execution (issue 13, item 1): a budget, a measured probe, chunk sizes, OOM halving.

A run has a memory *budget* (``--memory-budget``; default :data:`DEFAULT_FRACTION` of the
available memory: ``MemAvailable`` of ``/proc/meminfo`` on CPU, or psutil when installed; the
free memory of ``torch.cuda.mem_get_info`` on CUDA). From it the internal batches are derived:
the images one forward+backward pass of a gradient method may hold (IG quadrature points,
SmoothGrad/VarGrad/GradientSHAP noise samples) and the images one forward may hold (occlusion
windows, deletion/insertion curve forwards).

**Cost model** (docs/memory.md). The probe measures M(n), the memory of one pass over n = 1 and
n = 2 copies of a sample, and fits M(n) = fixed + n * per_image (the activations of a network
grow linearly with the batch; the weights and workspace do not):

* CUDA: M(n) = ``torch.cuda.max_memory_allocated`` after the pass minus the allocation before it;
* CPU: M(n) is counted from the tensors themselves: for a forward+backward pass, the distinct
  storages autograd saves for backward (``torch.autograd.graph.saved_tensors_hooks``) plus the
  output, the input and its gradient; for a forward without gradients, the largest
  (inputs + output) of any module (what must be alive at once), plus the input.

A chunk of n images is allowed when SAFETY * M(n) <= budget, where :data:`SAFETY` = 1.5 covers
what the count does not see (gradient buffers during backward, allocator slack). The budget
bounds these passes; the resident set of the interpreter, torch, the weights and the data comes
on top. On a GPU an out-of-memory error in a pass halves the chunk and retries
(:func:`with_oom_halving`); the peak memory of a run (``ru_maxrss`` on CPU,
``torch.cuda.max_memory_allocated`` on CUDA) is written into its config.json.
"""

from __future__ import annotations

import os
import re
import resource
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from attrbench.datasets.isolation import first_loading
from attrbench.errors import OptionError

__all__ = [
    "DEFAULT_FRACTION",
    "SAFETY",
    "MemoryLimited",
    "MemoryPlan",
    "MemoryProbe",
    "available_bytes",
    "chunk_for",
    "copy_limits",
    "forward_cap",
    "parse_budget",
    "peak_memory",
    "plan_memory",
    "plan_run",
    "probe_memory",
    "with_oom_halving",
]

#: default budget as a fraction of the available memory, per device type. On CPU a pass of more
#: images is not faster per image (docs/forward_batches.md), so a small share costs no speed and
#: leaves room for other processes; a GPU's memory belongs to the run.
DEFAULT_FRACTION: dict[str, float] = {"cpu": 0.125, "cuda": 0.6}
#: factor between the probe's count and the memory a pass may take.
SAFETY = 1.5

T = TypeVar("T")
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def available_bytes(device: torch.device) -> int:
    """Memory available to the run on ``device``: free GPU memory, or MemAvailable on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil  # optional: used only when already installed

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def parse_budget(text: str | int | None, *, available: int, device_type: str = "cpu") -> int:
    """Bytes of a budget: None (the default fraction), a fraction in (0, 1] ("0.25"), or a size
    ("4GB", "512MiB", "3000000000").

    Raises:
        OptionError: anything else (the message names ``--memory-budget``).
    """
    if text is None:
        return int(available * DEFAULT_FRACTION.get(device_type, DEFAULT_FRACTION["cpu"]))
    if isinstance(text, int) and not isinstance(text, bool):
        value: float = text
        unit = ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
        if not match or match.group(2).lower() not in _UNITS:
            raise OptionError(f"--memory-budget must be a size (4GB, 512MB) or a fraction (0.25), got {text!r}")
        value, unit = float(match.group(1)), match.group(2).lower()
        if unit == "" and "." in match.group(1):
            if not 0 < value <= 1:
                raise OptionError(f"--memory-budget as a fraction must lie in (0, 1], got {text!r}")
            return int(available * value)
    budget = int(value * _UNITS[unit])
    if budget <= 0:
        raise OptionError(f"--memory-budget must be positive, got {text!r}")
    return budget


@dataclass(frozen=True)
class MemoryProbe:
    """Measured cost model M(n) = fixed + n * per_image (bytes) of one pass, with and without gradients.

    Attributes:
        grad_fixed, grad_per_image: forward+backward pass.
        forward_fixed, forward_per_image: forward without gradients.
        source: "cuda-peak" or "cpu-count" (module docstring).
        input_shape: (C, H, W) of the probed sample.
    """

    grad_fixed: int
    grad_per_image: int
    forward_fixed: int
    forward_per_image: int
    source: str
    input_shape: tuple[int, ...]


def _fit(m1: int, m2: int) -> tuple[int, int]:
    """(fixed, per_image) of the line through (1, m1) and (2, m2); per_image >= 1, fixed >= 0."""
    per = max(m2 - m1, 1)
    return max(m1 - per, 0), per


def _storage_key(t: Tensor) -> tuple[int, int]:
    st = t.untyped_storage()
    return st.data_ptr(), st.nbytes()


def _count_grad_pass(model: nn.Module, x: Tensor) -> int:
    """CPU count of a forward+backward pass: saved storages + output + input + input gradient."""
    saved: dict[tuple[int, int], int] = {}

    def pack(t: Tensor) -> Tensor:
        key = _storage_key(t)
        saved[key] = key[1]
        return t

    x = x.detach().requires_grad_(True)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
        score = out.float().sum()
    (grad,) = torch.autograd.grad(score, x)
    return sum(saved.values()) + out.nbytes + x.nbytes + grad.nbytes


@torch.no_grad()
def _count_forward_pass(model: nn.Module, x: Tensor) -> int:
    """CPU count of a forward without gradients: the input plus max over modules of inputs + output."""
    largest = [0]

    def hook(_m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        size = sum(a.nbytes for a in args if torch.is_tensor(a)) + (out.nbytes if torch.is_tensor(out) else 0)
        largest[0] = max(largest[0], size)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return x.nbytes + max(largest[0], out.nbytes)


def _cuda_peak(fn: Callable[[], Any], device: torch.device) -> int:
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - before)


def probe_memory(*, model: nn.Module, sample: Tensor) -> MemoryProbe:
    """Measure the cost model of ``model`` on ``sample`` (n >= 1, C, H, W); see the module docstring."""
    x1 = sample[:1].detach()
    xs = {n: x1.expand(n, *x1.shape[1:]).contiguous() for n in (1, 2)}
    if sample.device.type == "cuda":
        grad = {n: _cuda_peak(lambda x=x: _count_grad_pass(model, x), sample.device) for n, x in xs.items()}
        fwd = {n: _cuda_peak(lambda x=x: _count_forward_pass(model, x), sample.device) for n, x in xs.items()}
        source = "cuda-peak"
    else:
        grad = {n: _count_grad_pass(model, x) for n, x in xs.items()}
        fwd = {n: _count_forward_pass(model, x) for n, x in xs.items()}
        source = "cpu-count"
    g_fixed, g_per = _fit(grad[1], grad[2])
    f_fixed, f_per = _fit(fwd[1], fwd[2])
    return MemoryProbe(g_fixed, g_per, f_fixed, f_per, source, tuple(x1.shape[1:]))


def chunk_for(*, fixed: int, per_image: int, budget: int, cap: int | None = None) -> int:
    """The largest n >= 1 with SAFETY * (fixed + n * per_image) <= budget (1 if even n = 1 does not fit), at most ``cap``."""
    n = int((budget / SAFETY - fixed) // max(per_image, 1))
    n = max(n, 1)
    return n if cap is None else min(n, cap)


@dataclass(frozen=True)
class MemoryPlan:
    """A run's budget and the chunk sizes derived from it (written to config.json as ``memory``).

    Attributes:
        budget: bytes; available: bytes available when planned; device: where the run executes.
        probe: the measured cost model.
        pass_images: images per forward+backward pass of a gradient method.
        forward_images: images per forward without gradients (occlusion, curves).
    """

    budget: int
    available: int
    device: str
    probe: MemoryProbe
    pass_images: int
    forward_images: int

    def as_record(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def plan_memory(*, model: nn.Module, sample: Tensor, budget: str | int | None) -> MemoryPlan:
    """Probe ``model`` on ``sample`` and derive the chunk sizes allowed by ``budget`` (:func:`parse_budget`)."""
    available = available_bytes(sample.device)
    nbytes = parse_budget(budget, available=available, device_type=sample.device.type)
    probe = probe_memory(model=model, sample=sample)
    return MemoryPlan(
        budget=nbytes,
        available=available,
        device=str(sample.device),
        probe=probe,
        pass_images=chunk_for(fixed=probe.grad_fixed, per_image=probe.grad_per_image, budget=nbytes),
        forward_images=chunk_for(fixed=probe.forward_fixed, per_image=probe.forward_per_image, budget=nbytes),
    )


class MemoryLimited:
    """Mixin of a method whose internal batch follows the run's memory plan.

    The run calls :meth:`limit_memory` once after planning; the method reads :attr:`pass_images`
    (images per forward+backward pass) or :attr:`forward_images` (images per forward without
    gradients), None meaning no limit (a method used outside a run). The limits are kept out of
    the method's ``config`` (they are the machine's, not the method's); config.json records them
    under ``memory``.
    """

    _pass_images: int | None = None
    _forward_images: int | None = None

    @property
    def pass_images(self) -> int | None:
        """Images per forward+backward pass allowed (None: no limit)."""
        return self._pass_images

    @property
    def forward_images(self) -> int | None:
        """Images per forward without gradients allowed (None: no limit)."""
        return self._forward_images

    def limit_memory(self, *, pass_images: int | None, forward_images: int | None) -> None:
        """Set the limits (each >= 1 or None)."""
        for name, value in (("pass_images", pass_images), ("forward_images", forward_images)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        self._pass_images, self._forward_images = pass_images, forward_images

    def _halved_pass(self, n: int) -> None:
        self._pass_images = n

    def _halved_forward(self, n: int) -> None:
        self._forward_images = n


def plan_run(ctx: Any) -> MemoryPlan:
    """Plan a :class:`~attrbench.context.RunContext`'s memory from its first sample and apply it.

    Every method that is :class:`MemoryLimited` gets the plan's limits; the curve metrics read
    ``plan.forward_images`` through :func:`forward_cap`. The caller stores the plan on the context.
    """
    _, first = first_loading(ctx.samples, limit=len(ctx.samples))  # a corrupt sample 0 must not abort the run
    sample = first.image.unsqueeze(0).to(ctx.device, ctx.dtype)
    plan = plan_memory(model=ctx.model, sample=sample, budget=ctx.config.memory_budget)
    for method in ctx.methods:
        if isinstance(method.instance, MemoryLimited):
            method.instance.limit_memory(pass_images=plan.pass_images, forward_images=plan.forward_images)
    return plan


def forward_cap(max_forward_batch: int, plan: MemoryPlan | None) -> int:
    """Images per forward of a metric: ``--max-forward-batch``, lowered to the plan's ``forward_images``."""
    return max_forward_batch if plan is None else max(1, min(max_forward_batch, plan.forward_images))


def copy_limits(source: Any, target: Any) -> None:
    """Give ``target`` the memory limits of ``source`` (both :class:`MemoryLimited`; else nothing)."""
    if isinstance(source, MemoryLimited) and isinstance(target, MemoryLimited):
        target.limit_memory(pass_images=source.pass_images, forward_images=source.forward_images)


def with_oom_halving(fn: Callable[[int], T], size: int, *, on_halve: Callable[[int], None] | None = None) -> T:
    """``fn(size)``; on ``torch.cuda.OutOfMemoryError`` retry with size // 2, down to 1 (then re-raise).

    ``on_halve(new_size)`` is called before each retry (a method keeps the smaller size for its
    next batches). Other errors propagate at once.
    """
    while True:
        try:
            return fn(size)
        except torch.cuda.OutOfMemoryError:
            if size <= 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            size //= 2
            if on_halve is not None:
                on_halve(size)


def peak_memory(device: torch.device) -> dict[str, Any]:
    """Peak memory of this process so far: ``torch.cuda.max_memory_allocated`` on CUDA, else ``ru_maxrss``."""
    if device.type == "cuda":
        return {"peak_bytes": int(torch.cuda.max_memory_allocated(device)), "peak_source": "torch.cuda.max_memory_allocated"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return {"peak_bytes": int(rss * scale), "peak_source": "ru_maxrss"}
