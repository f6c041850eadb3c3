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

import contextlib
import dataclasses
import hashlib
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import Tensor, nn

__all__ = [
    "FORWARD_BATCH_MODES",
    "ForwardProbe",
    "clear_probe_cache",
    "cpu_threads",
    "parse_forward_batch",
    "parse_threads",
    "probe_cache_path",
    "probe_forward_chunk",
    "probe_key",
    "run_forward_batch",
    "run_threads",
    "thread_rates",
]

_MEMO: dict[str, ForwardProbe] = {}

#: images per forward when a run times its thread counts: small enough to cost ~0.1 s per count
#: on a 2-core CPU, large enough to use every thread of a convolution.
THREAD_PROBE_IMAGES = 8
#: a run leaves the process's thread count only for a count this many times faster: beside a busy
#: process one thread was 13x faster than two, while on an idle machine the two counts' timings
#: scatter by up to ~1.3x between runs, and a wrong "one thread" costs 1.7x on the whole run.
THREAD_MARGIN = 1.5


@dataclass(frozen=True)
class ForwardProbe:
    """The measured forward chunk for one key.

    Attributes:
        key: the cache key (see :func:`probe_key`).
        chunk: images per forward that maximised images/s.
        threads: CPU thread count chosen (the current one unless threads were probed).
        images_per_s: chunk size (as str, JSON keys) -> measured images/s, at the thread count
            the probe started with.
        seconds: wall time the probe took.
        thread_images_per_s: only when threads were probed and another count won: chunk size ->
            images/s re-measured at ``threads`` (the chunk is the best of these).
    """

    key: str
    chunk: int
    threads: int
    images_per_s: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    thread_images_per_s: dict[str, float] = field(default_factory=dict)

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


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (None: unchanged); the count is restored.

    Thread counts change only speed: results differ by floating-point reassociation at most.
    """
    current = torch.get_num_threads()
    if n is None or int(n) == current:
        yield
        return
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(current)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(model: nn.Module, x: Tensor, *, repeats: int, min_time_s: float, warm: bool = True) -> float:
    """Images/s of the median of at least ``repeats`` forwards of ``x`` (after a warm-up if ``warm``).

    Forwards are repeated until they add up to ``min_time_s`` (at most 20), so that small inputs
    are not judged on one noisy millisecond. The median, not the fastest forward: when another
    process holds a core, a parallel kernel now and then runs at full speed but most forwards wait
    for a descheduled thread (measured on 2 cores beside one training: two threads, 8 images per
    forward, fastest 37 images/s, median 4), and a run gets the typical rate, not the best one.
    """
    if warm:
        model(x)
        _sync(x.device)
    times: list[float] = []
    while len(times) < repeats or (sum(times) < min_time_s and len(times) < 20):
        t0 = time.perf_counter()
        model(x)
        _sync(x.device)
        times.append(time.perf_counter() - t0)
    return x.shape[0] / max(statistics.median(times), 1e-9)


def _candidates(cap: int) -> list[int]:
    sizes, c = [], 1
    while c < cap:
        sizes.append(c)
        c *= 2
    return [*sizes, cap]


@torch.no_grad()
def _measure(model: nn.Module, sample: Tensor, *, cap: int, repeats: int, budget_s: float, min_time_s: float,
             always: tuple[int, ...] = ()) -> dict[int, float]:  # fmt: skip
    """Best images/s per chunk size: a growing pass, then ``repeats - 1`` interleaved passes.

    The growing pass tries the sizes of ``always`` first, then 1, 2, 4, ... and stops after two
    sizes in a row below the best (images/s is unimodal in practice) or when ``budget_s`` is spent;
    the interleaved passes re-time the sizes tried, in turn, so that a burst of load from other
    processes cannot decide the answer alone (each size keeps its best pass).
    """
    rates: dict[int, float] = {}
    for c in always:
        x = sample[:1].expand(c, *sample.shape[1:]).contiguous()
        rates[c] = _rate(model, x, repeats=1, min_time_s=min_time_s)
    t0, worse = time.perf_counter(), 0
    for c in [c for c in _candidates(cap) if c not in rates]:
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
def thread_rates(model: nn.Module, x: Tensor, *, min_time_s: float) -> dict[int, float]:
    """Images/s of forwards of ``x`` at each CPU thread count 1 .. current (the count is restored)."""
    rates = {}
    for t in range(1, torch.get_num_threads() + 1):
        with cpu_threads(t):
            rates[t] = _rate(model, x, repeats=3, min_time_s=min_time_s)
    return rates


def _pick_threads(rates: dict[int, float]) -> int:
    """The fastest count in ``rates`` if it beats the current count by :data:`THREAD_MARGIN`, else the current one."""
    current = torch.get_num_threads()
    best = max(rates, key=lambda t: rates[t])
    return best if rates[best] >= THREAD_MARGIN * rates[current] else current


def _best_threads(model: nn.Module, x: Tensor, *, min_time_s: float) -> int:
    """The CPU thread count in 1 .. current for forwards of ``x`` (:func:`_pick_threads`; the count is restored)."""
    return _pick_threads(thread_rates(model, x, min_time_s=min_time_s))


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
    always: tuple[int, ...] = (),
) -> ForwardProbe:
    """Pick the forward chunk (and optionally the CPU thread count) with the most images/s.

    Long: cache look-up, measurement, optional thread sweep and cache write share the key.

    Args:
        model: eval-mode model taking ``sample``-shaped inputs.
        sample: (n >= 1, C, H, W) input; its first image is repeated to fill a chunk.
        cap: largest chunk tried (the memory budget, and no more than the images to process).
        threads: on CPU also try 1 .. ``torch.get_num_threads()`` threads at the chosen chunk;
            when another count wins, the chunk sizes are measured again at that count (the best
            chunk depends on it: on a loaded 2-core machine one thread wants smaller chunks) and
            the chunk is the best of those. Another count is taken only when it is
            :data:`THREAD_MARGIN` times faster, as in a run (:func:`run_threads`). The caller
            applies ``probe.threads`` (:func:`cpu_threads`).
        repeats: timed passes over the candidates (best of): one growing pass, then interleaved ones.
        min_time_s: keep timing a candidate until its forwards add up to this (at most 20 forwards).
        budget_s: stop trying larger chunks once the probe has taken this long.
        use_cache: read and write the in-process and disk caches.
        always: chunk sizes timed whatever the growing pass finds (a run always times its cap,
            the chunk it would use without the probe, so a burst of load cannot stop the growing
            pass before it and leave only small chunks to choose from).

    Returns:
        A :class:`ForwardProbe`; the global thread count is left as it was.
    """
    if cap < 1:
        raise ValueError(f"probe_forward_chunk: cap must be >= 1, got {cap}")
    always = tuple(sorted({min(int(c), cap) for c in always}))
    key = probe_key(model=model, sample=sample, cap=cap) + ("|threads" if threads else "") + (f"|always{always}" if always else "")
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
    rates = _measure(model, sample, cap=cap, repeats=repeats, budget_s=budget_s, min_time_s=min_time_s, always=always)
    chunk = max(rates, key=lambda c: rates[c])
    n_threads, thread_rates = torch.get_num_threads(), {}
    if threads and sample.device.type == "cpu" and n_threads > 1:
        n_threads = _best_threads(model, sample[:1].expand(chunk, *sample.shape[1:]).contiguous(), min_time_s=min_time_s)
        if n_threads != torch.get_num_threads():
            with cpu_threads(n_threads):
                thread_rates = _measure(model, sample, cap=cap, repeats=repeats, budget_s=budget_s, min_time_s=min_time_s,
                                        always=always)  # fmt: skip
            chunk = max(thread_rates, key=lambda c: thread_rates[c])
    probe = ForwardProbe(
        key=key,
        chunk=int(chunk),
        threads=int(n_threads),
        images_per_s={str(c): round(r, 3) for c, r in rates.items()},
        seconds=round(time.perf_counter() - t0, 3),
        thread_images_per_s={str(c): round(r, 3) for c, r in thread_rates.items()},
    )
    if use_cache:
        _MEMO[key] = probe
        _save_disk(probe)
    return probe


#: ``forward_batch`` settings of a run besides a positive int (:func:`run_forward_batch`).
FORWARD_BATCH_MODES: tuple[str, ...] = ("auto", "max")


def parse_forward_batch(value: Any) -> int | str:
    """``--forward-batch``: "auto", "max" or an int >= 1 (a digit string is read as an int).

    Raises:
        OptionError: anything else (one line naming the option).
    """
    return _mode_or_count(value, modes=FORWARD_BATCH_MODES, option="--forward-batch")


def _mode_or_count(value: Any, *, modes: tuple[str, ...], option: str) -> int | str:
    """One of ``modes`` (case and spaces ignored) or an int >= 1 (a digit string is read as an int)."""
    from attrbench.errors import OptionError

    if isinstance(value, str) and value.strip().lower() in modes:
        return value.strip().lower()
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    allowed = ", ".join(f"'{m}'" for m in modes)
    raise OptionError(f"{option} must be {allowed} or an integer >= 1, got {value!r}")


def run_forward_batch(*, model: nn.Module, input_shape: tuple[int, ...], device: torch.device, dtype: torch.dtype,
                      setting: int | str, cap: int) -> tuple[int | str, ForwardProbe | None]:  # fmt: skip
    """The forward chunk a run's metrics use, and the probe behind it (None unless "auto").

    "auto" probes once per (model, input size, device) (cached, :func:`probe_forward_chunk`, on an
    all-zero ``(1, *input_shape)`` image; a short probe: 2 passes of at least 0.1 s per size, the
    cap always among the sizes timed) and
    returns its chunk, at most ``cap`` (``max_forward_batch``); "max" and an int are returned as
    they are (an int capped by ``cap``). The chunk changes speed only (floating-point
    reassociation at most, docs/forward_batches.md).
    """
    setting = parse_forward_batch(setting)
    if setting == "max":
        return setting, None
    if isinstance(setting, int):
        return min(setting, cap), None
    sample = torch.zeros((1, *input_shape), device=device, dtype=dtype)
    probe = probe_forward_chunk(model=model, sample=sample, cap=cap, repeats=2, min_time_s=0.1, budget_s=10.0, always=(cap,))
    return min(probe.chunk, cap), probe


def parse_threads(value: Any) -> int | str:
    """``--threads``: "auto" or an int >= 1 (a digit string is read as an int).

    Raises:
        OptionError: anything else (one line naming the option).
    """
    return _mode_or_count(value, modes=("auto",), option="--threads")


def run_threads(*, model: nn.Module, input_shape: tuple[int, ...], device: torch.device, dtype: torch.dtype,
                setting: int | str) -> tuple[int, dict[str, float]]:  # fmt: skip
    """The CPU thread count a run uses, and the images/s per count behind it ({} unless measured).

    ``setting`` "auto" on a CPU with more than one thread times forwards of
    :data:`THREAD_PROBE_IMAGES` all-zero images at every count from 1 to
    ``torch.get_num_threads()`` (medians, :func:`thread_rates`) and keeps the fastest if it beats
    the current count by :data:`THREAD_MARGIN`, else the current count: on an idle 2-core machine
    both threads, beside another busy process one (a parallel kernel waits for its slowest
    thread; docs/forward_batches.md, "Thread count"). The answer depends on the
    machine's load at that moment, so it is measured per run and never cached. An int is used as
    given; on other devices the current count is kept. Thread counts change floating-point
    reassociation only.

    Raises:
        OptionError: ``setting`` neither "auto" nor an int >= 1.
    """
    setting = parse_threads(setting)
    if isinstance(setting, int):
        return setting, {}
    current = torch.get_num_threads()
    if device.type != "cpu" or current == 1:
        return current, {}
    x = torch.zeros((THREAD_PROBE_IMAGES, *input_shape), device=device, dtype=dtype)
    rates = thread_rates(model, x, min_time_s=0.1)
    return _pick_threads(rates), {str(t): round(r, 3) for t, r in rates.items()}
