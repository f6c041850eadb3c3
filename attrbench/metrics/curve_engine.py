"""How :func:`attrbench.metrics.perturbation.perturbation_curves` computes its forwards.

Two decisions, kept out of the curve convention itself:

* ``engine``: "full" re-forwards every perturbed image; "incremental" uses the exact BagNet
  locality of :mod:`attrbench.metrics.bagnet_curves`; "auto" (default) takes "incremental" when
  the model is a BagNet and the windows cost at most :data:`INCREMENTAL_MAX_RATIO` of the full
  re-forward's pixels (fine curves: one block per step on a 224 px BagNet-33 sends 8 % of the
  pixels), "full" otherwise. Both give the same curve up to floating-point reassociation.
* ``forward_batch``: images per full forward. "max" (default) = balanced chunks of at most
  ``max_forward_batch`` (deterministic, the behaviour before the probe existed); "auto" = the chunk
  measured by :func:`attrbench.probe.probe_forward_chunk`, capped by ``max_forward_batch``; an int
  = that chunk. With "auto" on a CPU the probe also picks the thread count of the full
  re-forwards (:func:`forward_plan`; on a 2-core machine shared with other processes one thread
  ran 2-4x faster per image than two), applied around the forwards only. The default stays "max" because the probe's answer depends on the machine's load,
  and a run should record it (config.json) before using it: the runner passes "auto" and writes
  the probe record.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attrbench.api import Target
from attrbench.metrics.bagnet_curves import bagnet_parts, incremental_cost_ratio, incremental_curve_outputs, unit_windows
from attrbench.probe import probe_forward_chunk

__all__ = ["ENGINES", "INCREMENTAL_MAX_RATIO", "forward_chunk", "forward_plan", "incremental_outputs", "score_outputs"]

ENGINES: tuple[str, ...] = ("auto", "full", "incremental")

#: "auto" picks the incremental engine when windows/full pixel ratio is at most this; windows run
#: at a lower efficiency than whole images (smaller convolutions, gathers), so a ratio of 0.5
#: keeps a margin (the prototype of issue 17 gained 1.2-1.4x at a ratio of about 0.4).
INCREMENTAL_MAX_RATIO = 0.5

#: window features held at once by the incremental engine (512 windows of a full-width BagNet-33
#: at one block per step: 512 x 25 positions x 2048 floats = 105 MB).
GROUP_WINDOWS = 512


def forward_chunk(*, model: nn.Module, images: Tensor, total: int, max_forward_batch: int, forward_batch: int | str) -> int:
    """Images per forward for ``total`` perturbed copies of ``images`` (B, C, H, W)."""
    cap = max(1, min(int(max_forward_batch), total))
    if forward_batch == "max":
        n_chunks = -(-total // cap)  # balanced chunks (104 -> 52 + 52, not 64 + 40)
        return -(-total // n_chunks)
    if forward_batch == "auto":
        return min(cap, probe_forward_chunk(model=model, sample=images[:1], cap=cap).chunk)
    if isinstance(forward_batch, int) and not isinstance(forward_batch, bool) and forward_batch >= 1:
        return min(cap, forward_batch)
    raise ValueError(f"forward_batch must be 'max', 'auto' or a positive int, got {forward_batch!r}")


def forward_plan(*, model: nn.Module, images: Tensor, total: int, max_forward_batch: int,
                 forward_batch: int | str) -> tuple[int, int | None]:  # fmt: skip
    """Images per forward and CPU thread count (None = leave as is) of full re-forwards.

    As :func:`forward_chunk`, except that "auto" on a CPU also probes the thread count
    (:func:`attrbench.probe.probe_forward_chunk` with ``threads=True``; the caller applies it with
    :func:`attrbench.probe.cpu_threads`).
    """
    if forward_batch != "auto" or images.device.type != "cpu":
        return forward_chunk(model=model, images=images, total=total, max_forward_batch=max_forward_batch,
                             forward_batch=forward_batch), None  # fmt: skip
    cap = max(1, min(int(max_forward_batch), total))
    probe = probe_forward_chunk(model=model, sample=images[:1], cap=cap, threads=True)
    return min(cap, probe.chunk), probe.threads


def incremental_outputs(
    *,
    engine: str,
    model: nn.Module,
    images: Tensor,
    fill_x: Tensor,
    ranks: Tensor,
    unit: int,
    counts: list[int],
    mode: str,
    max_forward_batch: int,
    forward_batch: int | str = "max",
) -> Tensor | None:
    """(B, K, outputs) model outputs at every curve point, or None to use full forwards.

    Raises:
        ValueError: unknown ``engine``, or "incremental" on a model that is not a BagNet.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown curve engine {engine!r}; choose from {ENGINES}")
    if engine == "full":
        return None
    parts = bagnet_parts(model)
    if parts is None:
        if engine == "incremental":
            raise ValueError("engine='incremental' needs an eval-mode BagNet (or an ImageModel wrapping one)")
        return None
    h, w = images.shape[-2:]
    if engine == "auto" and incremental_cost_ratio(net=parts.net, height=h, width=w, unit=unit, counts=counts) > INCREMENTAL_MAX_RATIO:
        return None
    win = unit_windows(net=parts.net, height=h, width=w, unit=unit)
    n_windows = images.shape[0] * int(win.live.sum())
    crop = images[:1, :, : win.crop[0], : win.crop[1]]  # the chunk is probed on window-sized inputs
    chunk = forward_chunk(
        model=model, images=crop, total=max(1, n_windows), max_forward_batch=max_forward_batch, forward_batch=forward_batch
    )
    return incremental_curve_outputs(
        parts=parts,
        images=images,
        fill_x=fill_x,
        ranks=ranks,
        unit=unit,
        counts=counts,
        mode=mode,
        chunk=chunk,
        group_windows=max(chunk, GROUP_WINDOWS),
    )


def score_outputs(outputs: Tensor, scorer: Target) -> Tensor:
    """(B, K) float64 scores of (B, K, outputs) model outputs; ``scorer`` is a B-sample Target."""
    b, k = outputs.shape[:2]
    rows = torch.arange(b, device=outputs.device).repeat_interleave(k)
    return scorer(outputs.reshape(b * k, -1), *(t[rows] for t in scorer.per_sample)).to(torch.float64).view(b, k)
