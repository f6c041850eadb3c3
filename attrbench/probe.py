"""Forward chunk sizes chosen by measurement (issue 17, item 1).

How many images to push through a model at once is a property of the machine, not a constant:
on 2-core CPUs a BagNet-33 at 224 px costs 1.33x more per image in a batch of 64 than one image
at a time, while a GPU wants large batches. :func:`probe_forward_chunk` times forwards at chunk
sizes 1, 2, 4, ... up to a cap and keeps the one with the most images per second; optionally it
also tries CPU thread counts. Results are cached per key (model architecture, input size, device,
dtype, torch version, thread count) in-process and on disk as JSON under
``$ATTRBENCH_CACHE/probe/forward.json``, and returned as a :class:`ForwardProbe` whose
:meth:`ForwardProbe.as_record` is meant for a run's config.json.

The probe's answer changes only the speed: results differ from another chunk size by
floating-point reassociation at most (kernels may pick other algorithms per batch size).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ForwardProbe", "clear_probe_cache", "probe_cache_path", "probe_forward_chunk", "probe_key"]

_MEMO: dict[str, ForwardProbe] = {}


@dataclass(frozen=True)
class ForwardProbe:
    """The measured forward chunk for one key.

    Attributes:
        key: the cache key (see :func:`probe_key`).
        chunk: images per forward that maximised images/s.
        threads: CPU thread count chosen (the current one unless threads were probed).
        images_per_s: chunk size (as str, JSON keys) -> measured images/s.
        seconds: wall time the probe took.
    """

    key: str
    chunk: int
    threads: int
    images_per_s: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def as_record(self) -> dict[str, Any]:
        """JSON-ready dict for config.json."""
        return dataclasses.asdict(self)


def probe_cache_path() -> Path:
    """``$ATTRBENCH_CACHE/probe/forward.json`` (default cache ``~/.cache/attrbench``)."""
    root = Path(os.environ.get("ATTRBENCH_CACHE", Path.home() / ".cache" / "attrbench"))
    return root / "probe" / "forward.json"


def clear_probe_cache(*, disk: bool = False) -> None:
    """Forget in-process results (and the disk cache file if ``disk``)."""
    _MEMO.clear()
    if disk:
        probe_cache_path().unlink(missing_ok=True)


def probe_key(*, model: nn.Module, sample: Tensor, cap: int) -> str:
    """Key of a probe: architecture (module tree and parameter shapes, not weights), input, device, ..."""
    arch = repr(model) + repr([tuple(p.shape) for p in model.parameters()])
    digest = hashlib.sha256(arch.encode()).hexdigest()[:16]
    shape = "x".join(str(d) for d in sample.shape[1:])
    return f"{type(model).__qualname__}-{digest}|{shape}|{sample.device}|{sample.dtype}|cap{cap}|torch{torch.__version__}|t{torch.get_num_threads()}"


def _load_disk() -> dict[str, Any]:
    path = probe_cache_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_disk(probe: ForwardProbe) -> None:
    path = probe_cache_path()
    data = _load_disk()
    data[probe.key] = probe.as_record()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:  # a read-only cache only costs a re-probe next time
        pass


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(model: nn.Module, x: Tensor, *, repeats: int, min_time_s: float, warm: bool = True) -> float:
    """Images/s of the fastest of at least ``repeats`` forwards of ``x`` (after a warm-up if ``warm``).

    Forwards are repeated until they add up to ``min_time_s`` (at most 20), so that small inputs
    are not judged on one noisy millisecond; the minimum is the estimate least disturbed by other
    processes on a shared machine.
    """
    if warm:
        model(x)
        _sync(x.device)
    best, spent, n = float("inf"), 0.0, 0
    while n < repeats or (spent < min_time_s and n < 20):
        t0 = time.perf_counter()
        model(x)
        _sync(x.device)
        dt = time.perf_counter() - t0
        best, spent, n = min(best, dt), spent + dt, n + 1
    return x.shape[0] / max(best, 1e-9)


def _candidates(cap: int) -> list[int]:
    sizes, c = [], 1
    while c < cap:
        sizes.append(c)
        c *= 2
    return [*sizes, cap]


@torch.no_grad()
def _measure(model: nn.Module, sample: Tensor, *, cap: int, repeats: int, budget_s: float, min_time_s: float) -> dict[int, float]:
    """Best images/s per chunk size: a growing pass, then ``repeats - 1`` interleaved passes.

    The growing pass tries 1, 2, 4, ... and stops after two sizes in a row below the best
    (images/s is unimodal in practice) or when ``budget_s`` is spent; the interleaved passes
    re-time the sizes tried, in turn, so that a burst of load from other processes cannot decide
    the answer alone (each size keeps its best pass).
    """
    rates: dict[int, float] = {}
    t0, worse = time.perf_counter(), 0
    for c in _candidates(cap):
        x = sample[:1].expand(c, *sample.shape[1:]).contiguous()
        rates[c] = _rate(model, x, repeats=1, min_time_s=min_time_s)
        worse = worse + 1 if rates[c] < max(rates.values()) else 0
        if worse >= 2 or time.perf_counter() - t0 > budget_s:
            break
    for _ in range(repeats - 1):
        for c in list(rates):
            x = sample[:1].expand(c, *sample.shape[1:]).contiguous()
            rates[c] = max(rates[c], _rate(model, x, repeats=1, min_time_s=min_time_s, warm=False))
    return rates


@torch.no_grad()
def _best_threads(model: nn.Module, x: Tensor, *, min_time_s: float) -> int:
    """The CPU thread count in 1 .. current with the most images/s (the count is restored)."""
    current = torch.get_num_threads()
    rates = {}
    try:
        for t in range(1, current + 1):
            torch.set_num_threads(t)
            rates[t] = _rate(model, x, repeats=2, min_time_s=min_time_s)
    finally:
        torch.set_num_threads(current)
    return max(rates, key=lambda t: rates[t])


def probe_forward_chunk(
    *,
    model: nn.Module,
    sample: Tensor,
    cap: int = 256,
    threads: bool = False,
    repeats: int = 3,
    min_time_s: float = 0.3,
    budget_s: float = 60.0,
    use_cache: bool = True,
) -> ForwardProbe:
    """Pick the forward chunk (and optionally the CPU thread count) with the most images/s.

    Long: cache look-up, measurement, optional thread sweep and cache write share the key.

    Args:
        model: eval-mode model taking ``sample``-shaped inputs.
        sample: (n >= 1, C, H, W) input; its first image is repeated to fill a chunk.
        cap: largest chunk tried (the memory budget, and no more than the images to process).
        threads: on CPU also try 1 .. ``torch.get_num_threads()`` threads at the chosen chunk;
            the caller applies ``probe.threads`` with ``torch.set_num_threads``.
        repeats: timed passes over the candidates (best of): one growing pass, then interleaved ones.
        min_time_s: keep timing a candidate until its forwards add up to this (at most 20 forwards).
        budget_s: stop trying larger chunks once the probe has taken this long.
        use_cache: read and write the in-process and disk caches.

    Returns:
        A :class:`ForwardProbe`; the global thread count is left as it was.
    """
    if cap < 1:
        raise ValueError(f"probe_forward_chunk: cap must be >= 1, got {cap}")
    key = probe_key(model=model, sample=sample, cap=cap) + ("|threads" if threads else "")
    if use_cache:
        if key in _MEMO:
            return _MEMO[key]
        cached = _load_disk().get(key)
        if isinstance(cached, dict):
            try:
                _MEMO[key] = ForwardProbe(**cached)
                return _MEMO[key]
            except TypeError:  # an older record layout: probe again
                pass
    t0 = time.perf_counter()
    rates = _measure(model, sample, cap=cap, repeats=repeats, budget_s=budget_s, min_time_s=min_time_s)
    chunk = max(rates, key=lambda c: rates[c])
    n_threads = torch.get_num_threads()
    if threads and sample.device.type == "cpu" and n_threads > 1:
        n_threads = _best_threads(model, sample[:1].expand(chunk, *sample.shape[1:]).contiguous(), min_time_s=min_time_s)
    probe = ForwardProbe(
        key=key,
        chunk=int(chunk),
        threads=int(n_threads),
        images_per_s={str(c): round(r, 3) for c, r in rates.items()},
        seconds=round(time.perf_counter() - t0, 3),
    )
    if use_cache:
        _MEMO[key] = probe
        _save_disk(probe)
    return probe
