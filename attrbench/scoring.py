"""Score one unit (method x batch) from a :class:`~attrbench.context.RunContext`.

Steps of :func:`score_unit`:

1. seed torch, numpy and random with the unit seed (:func:`attrbench.runspec.unit_seed`);
2. the method call on the batch, timed (CUDA synchronised); a sample whose method raises (also
   ``SystemExit``; ``KeyboardInterrupt`` stops the run) or returns NaN/inf is recorded as
   ``status="failed"`` with the reason (a raising batch is retried sample by sample to isolate
   the culprit);
3. post-processing to (B, 1, H, W) maps (and the patch-grid map when the raw map is on the grid);
   a map that cannot be post-processed (wrong resolution, a failing step) fails its sample the
   same way (the batch is retried sample by sample);
4. every metric on the successful samples at once (a metric that raises fails its values only).

The result is the unit's records and curves in the store's columns (:class:`attrbench.results.UnitRecords`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from attrbench.api import Batch, Target
from attrbench.context import PreparedMethod, RunContext, seed_all
from attrbench.memory import forward_cap
from attrbench.metrics.base import Metric, MetricContext, MetricResult
from attrbench.metric_specs import qualified
from attrbench.options import canonical_label
from attrbench.results import UnitRecords
from attrbench.runspec import unit_seed

__all__ = ["attribute", "score_unit"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _subset_batch(batch: Batch, idx: Tensor) -> Batch:
    def pick(t: Tensor | None) -> Tensor | None:
        return None if t is None else t[idx]

    ids = [batch.ids[i] for i in idx.tolist()]
    return Batch(batch.images[idx], batch.labels[idx], ids, pick(batch.masks), pick(batch.bboxes), pick(batch.parts))


def _per_sample(method: PreparedMethod, images: Tensor, target: Target) -> tuple[Tensor | None, dict[int, str], float]:
    """After a batch call raised: each sample alone, so that only the failing ones fail."""
    device = images.device
    seconds, rows, failed = 0.0, [], {}
    for i in range(len(images)):
        try:
            _sync(device)
            t1 = time.perf_counter()
            rows.append(method.instance(images[i : i + 1], target=target.subset(slice(i, i + 1))))
            _sync(device)
            seconds += time.perf_counter() - t1
        except _METHOD_FAILURES as exc_i:
            failed[i] = _reason(exc_i)
            rows.append(None)
    good = [r for r in rows if r is not None]
    if not good:
        return None, failed, seconds
    filler = torch.full_like(good[0], float("nan"))
    return torch.cat([filler if r is None else r for r in rows]).detach(), failed, seconds


def attribute(method: PreparedMethod, images: Tensor, target: Target) -> tuple[Tensor | None, dict[int, str], float]:
    """Raw maps (None if every sample failed), failure reasons by row, seconds of the method call."""
    device = images.device
    _sync(device)
    t0 = time.perf_counter()
    try:
        raw = method.instance(images, target=target)
        _sync(device)
        seconds = time.perf_counter() - t0
    except _METHOD_FAILURES as exc:  # isolate the failing samples; the others still count
        if len(images) == 1:
            return None, {0: _reason(exc)}, float("nan")
        return _per_sample(method, images, target)
    b = len(images)
    if not torch.is_tensor(raw) or raw.ndim != 4 or raw.shape[0] != b:
        shape = tuple(raw.shape) if torch.is_tensor(raw) else type(raw).__name__
        return None, {i: f"method returned shape {shape}, expected (B={b}, C, h, w)" for i in range(b)}, seconds
    return raw.detach(), {}, seconds


#: what a method call may raise and still only fail its samples: any Exception, and SystemExit (a
#: method calling sys.exit() is a broken method, not a request to end the run). KeyboardInterrupt
#: is not caught: Ctrl-C stops the run, which can be resumed.
_METHOD_FAILURES: tuple[type[BaseException], ...] = (Exception, SystemExit)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"method raised SystemExit (code {exc.code!r}); a method must not exit the process"
    return f"method raised {type(exc).__name__}: {exc}"


def _postprocess(ctx: RunContext, method: PreparedMethod, raw: Tensor, size: tuple[int, ...],
                 failed: dict[int, str]) -> Tensor | None:  # fmt: skip
    """Post-processed maps (B, 1, H, W) of ``raw`` (B, C, h, w); a sample whose map cannot be
    post-processed (wrong resolution, failing step) is added to ``failed`` and gets a NaN map.
    Returns None when no sample could be post-processed."""
    info = method.cls.info
    with torch.no_grad():
        try:
            return ctx.postprocess_for(method)(raw, size=size, info=info, rf=ctx.rf, geometry=method.geometry)
        except Exception:  # retry sample by sample so that only the bad maps fail
            rows: list[Tensor | None] = []
            for i in range(len(raw)):
                try:
                    rows.append(ctx.postprocess_for(method)(raw[i : i + 1], size=size, info=info, rf=ctx.rf,
                                                            geometry=method.geometry))  # fmt: skip
                except Exception as exc:
                    failed[i] = f"post-processing of the {tuple(raw.shape[1:])} map raised {type(exc).__name__}: {exc}"
                    rows.append(None)
    good = [r for r in rows if r is not None]
    if not good:
        return None
    filler = torch.full_like(good[0], float("nan"))
    return torch.cat([filler if r is None else r for r in rows])


def _maps(ctx: RunContext, method: PreparedMethod, batch: Batch, target: Target) -> tuple[Tensor | None, Tensor | None, dict[int, str], float]:  # fmt: skip
    """Raw maps, post-processed maps, failure reasons by row, seconds."""
    raw, failed, seconds = attribute(method, batch.images, target)
    if raw is None:
        return None, None, {i: failed.get(i, "method failed") for i in range(len(batch))}, seconds
    for i in torch.nonzero(~torch.isfinite(raw.flatten(1)).all(dim=1)).flatten().tolist():
        failed.setdefault(i, "method returned NaN/inf")
    safe = torch.where(torch.isfinite(raw), raw, torch.zeros_like(raw))
    maps = _postprocess(ctx, method, safe, tuple(batch.images.shape[-2:]), failed)
    if maps is None:
        return None, None, {i: failed.get(i, "post-processing failed") for i in range(len(batch))}, seconds
    for i in torch.nonzero(~torch.isfinite(maps.flatten(1)).all(dim=1)).flatten().tolist():
        failed.setdefault(i, "post-processing gave NaN/inf")
    return raw, maps, failed, seconds


def _fail(out: UnitRecords, metric: Metric, names: list[str], rows: list[int], sub: Batch, sub_index: Tensor,
          reasons: list[str], spec: tuple[str, str] = ("", "")) -> None:  # fmt: skip
    """Failed records of ``names`` for the rows ``rows`` of ``sub`` that the metric selects.

    ``spec``: (the metric's specification, the suffix of its names), :mod:`attrbench.metric_specs`.
    """
    keep = metric.selects(sub_index[rows]).tolist() if rows else []
    ids = [sub.ids[r] for r, k in zip(rows, keep) if k]
    errs = [e for e, k in zip(reasons, keep) if k]
    for name in names:
        out.add(metric=qualified(name, spec[1]), ids=ids, values=np.full(len(ids), np.nan), errors=errs,
                higher_is_better=metric.higher_is_better(name), category=metric.info.category.value,
                spec=spec[0])  # fmt: skip


def _metric_context(ctx: RunContext, method: PreparedMethod, sub: Batch, sub_target: Target, sub_raw: Tensor,
                    maps: Tensor, index: Tensor, seconds: float, seed: int) -> MetricContext:  # fmt: skip
    size = tuple(sub.images.shape[-2:])
    grid_map = None
    if ctx.rf is not None:
        with torch.no_grad():
            reduced = ctx.postprocess_for(method).reduce_map(sub_raw)
        if tuple(reduced.shape[-2:]) == ctx.rf.grid(*size):  # already on the patch grid: use as it is
            grid_map = reduced[:, 0]

    def explain(other: torch.nn.Module, rows: Tensor | None = None) -> Tensor:
        seed_all(seed)  # the same noise as for the original map
        images, tgt = (sub.images, sub_target) if rows is None else (sub.images[rows], sub_target.subset(rows))
        raw2 = method.rebind(other)(images, target=tgt).detach()
        with torch.no_grad():
            return ctx.postprocess_for(method)(raw2, size=size, info=method.cls.info, rf=ctx.rf, geometry=method.geometry)

    def explain_target(other_target: Target) -> Tensor:
        """The same method, seed and post-processing on the same rows, explaining ``other_target``."""
        seed_all(seed)
        raw2 = method.instance(sub.images, target=other_target).detach()
        with torch.no_grad():
            return ctx.postprocess_for(method)(raw2, size=size, info=method.cls.info, rf=ctx.rf, geometry=method.geometry)

    return MetricContext(
        model=ctx.model, batch=sub, target=sub_target, raw=sub_raw, maps=maps, method_info=method.cls.info,
        explain=explain, explain_target=explain_target, sample_index=index, grid_map=grid_map,
        baseline=method.baseline, rf=ctx.rf, seconds=seconds, seed=seed,
        max_forward_batch=forward_cap(ctx.config.max_forward_batch, ctx.memory), run_seed=ctx.config.seed,
        truths=ctx.truths, forward_batch=ctx.forward_batch,
    )  # fmt: skip


def _record(out: UnitRecords, metric: Metric, result: MetricResult, names: list[str], sub: Batch,
            spec: tuple[str, str] = ("", "")) -> None:  # fmt: skip
    keep = np.ones(len(sub), dtype=bool) if result.present is None else result.present.cpu().numpy().astype(bool)
    ids = [i for i, k in zip(sub.ids, keep) if k]
    for name in names:
        reason = result.reasons.get(name, "value is NaN")
        out.add(metric=qualified(name, spec[1]), ids=ids,
                values=result.values[name].detach().to("cpu", torch.float64).numpy()[keep],
                errors=[reason] * len(ids), higher_is_better=metric.higher_is_better(name),
                category=metric.info.category.value, spec=spec[0])  # fmt: skip
    for cname, curve in result.curves.items():
        out.add_curve(curve=qualified(cname, spec[1]), ids=ids, fractions=curve.fractions.detach().to("cpu", torch.float64).numpy(),
                      scores=curve.scores.detach().to("cpu", torch.float64).numpy()[keep])  # fmt: skip


def score_unit(ctx: RunContext, method: PreparedMethod, *, batch_index: int, batch: Batch, target: Target,
               run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Attribute, post-process and score one (method, batch) unit (module docstring).

    Args:
        ctx: the opened run.
        method: one of ``ctx.methods``.
        batch_index: position of the batch in the run (0-based); batch: the prepared batch (B samples).
        target: the track's target for ``batch``.
        run_id: the ``run_id`` column of the records.

    Returns:
        (records, curves) with :data:`attrbench.results.RECORD_COLUMNS` and ``CURVE_COLUMNS``.
    """
    bs = ctx.config.batch_size
    index = torch.arange(batch_index * bs, batch_index * bs + len(batch), device=batch.images.device)
    seed = unit_seed(ctx.config.seed, method.label, batch_index)
    seed_all(seed)
    raw, maps, failed, seconds = _maps(ctx, method, batch, target)
    ctx.clock.add(f"method {method.label}", seconds, method=method.label, images=len(batch))
    out = UnitRecords(run_id=run_id, dataset=str(ctx.config.dataset), model=str(ctx.config.model), method=method.label)
    rows_failed = sorted(failed)
    specs = _specs(ctx)
    for metric, spec in zip(ctx.metrics, specs):
        names = metric.value_names(model=ctx.model, batch=batch)
        _fail(out, metric, names, rows_failed, batch, index, [failed[i] for i in rows_failed], spec)
    ok_rows = [i for i in range(len(batch)) if i not in failed]
    if not ok_rows:
        return out.frames()
    idx = torch.tensor(ok_rows, device=batch.images.device)
    sub, sub_target = _subset_batch(batch, idx), target.subset(idx)
    mctx = _metric_context(ctx, method, sub, sub_target, raw[idx], maps[idx], index[idx], seconds, seed)  # type: ignore[index]
    for metric, spec in zip(ctx.metrics, specs):
        names = metric.value_names(model=ctx.model, batch=sub)
        try:
            with ctx.clock.phase(f"metric {spec[0]}", device=ctx.device, method=method.label):
                result = metric.compute(mctx)
            _check_result(metric, result, names, len(sub))
        except Exception as exc:  # a broken metric fails its values, not the run
            reason = f"metric {metric.info.name!r} raised {type(exc).__name__}: {exc}"
            _fail(out, metric, names, list(range(len(sub))), sub, mctx.sample_index, [reason] * len(sub), spec)
            continue
        _record(out, metric, result, names, sub, spec)
    return out.frames()


def _specs(ctx: RunContext) -> list[tuple[str, str]]:
    """(canonical specification, name suffix) per metric of the run (:mod:`attrbench.metric_specs`)."""
    suffixes = ctx.metric_suffixes or [""] * len(ctx.metrics)
    return [(canonical_label(label), sfx) for label, sfx in zip(ctx.metric_labels, suffixes)]


def _check_result(metric: Metric, result: MetricResult, names: list[str], b: int) -> None:
    got = set(result.values)
    if got != set(names):
        raise RuntimeError(f"metric {metric.info.name!r} emitted {sorted(got)}, declared {sorted(names)}")
    for name, v in result.values.items():
        if tuple(v.shape) != (b,):
            raise RuntimeError(f"metric {metric.info.name!r} value {name!r} has shape {tuple(v.shape)}, expected ({b},)")
