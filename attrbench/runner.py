"""The runner: the loop over units (method x batch), the run directory and resume.

Set-up is :class:`attrbench.context.RunContext` (model, dataset, metrics, track, methods built
once); one unit is scored by :func:`attrbench.scoring.score_unit` (seeded with
``unit_seed = crc32(f"{seed}/{method}/{batch}")``, so a unit gives the same result whether it
runs first, alone, or after a resume). Here: the run directory is chosen from the config's
fingerprint, ``config.json`` is written, every unit's records and curves are written as part
files (temp file + rename) as soon as they exist, and the parts are merged and summarised.

``resume=True`` skips units whose part exists; the final merge concatenates the parts in
(batch, method) order, so a resumed run has exactly the records of an uninterrupted one.
Memory does not grow with the number of samples: only one batch is in flight.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from attrbench.api import AttributionMethod, Sample
from attrbench.context import RunContext
from attrbench.device import resolve_device
from attrbench.distributed import Ranks, ranks_from_env
from attrbench.probe import cpu_threads
from attrbench.errors import OptionError
from attrbench.memory import peak_memory, plan_run
from attrbench.models.common import ImageModel
from attrbench.outdir import check_out_folder, check_out_target
from attrbench.provenance import git_hash, package_versions
from attrbench.results import RunDir, config_key, summarise
from attrbench.runlock import RunLock
from attrbench.runspec import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_FORWARD_BATCH,
    DEFAULT_N_SAMPLES,
    RunConfig,
    parse_spec,
    split_specs,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_FORWARD_BATCH",
    "DEFAULT_N_SAMPLES",
    "RunConfig",
    "evaluate",
    "parse_spec",
    "run",
    "split_specs",
]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _run_dir(config: RunConfig, fingerprint: dict[str, Any]) -> RunDir:
    """``--out``, else (resume) the newest run with the same fingerprint, else a new ``results/runs/<id>``.

    The run id is the directory's name.
    """
    if config.out is not None:
        return RunDir(config.out)
    base = Path("results") / "runs"
    if config.resume and base.is_dir():
        for candidate in sorted(base.iterdir(), reverse=True):
            old = RunDir(candidate).read_config() if candidate.is_dir() else None
            if old and old.get("fingerprint") == fingerprint:
                return RunDir(candidate)
    key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:8]
    return RunDir(base / (dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S") + f"-{key}"))


def _comparable(fingerprint: dict[str, Any], *, finished: bool) -> dict[str, Any]:
    """``fingerprint`` as a resume compares it: the data root as a resolved path (``../data`` and
    ``/abs/data`` name the same folder); for a finished run without it, since nothing is read from
    it (the run is reused as stored, wherever its data lives on this machine)."""
    out = dict(fingerprint)
    if finished:
        out.pop("data_root", None)
    elif out.get("data_root") is not None:
        out["data_root"] = str(Path(str(out["data_root"])).expanduser().resolve())
    return out


def _check_resume(run: RunDir, old: dict[str, Any] | None, fingerprint: dict[str, Any], resume: bool) -> None:
    if old is None and not run.has_shards():
        return
    if not resume:
        raise OptionError(f"run directory {run.path} already holds a run; pass --resume to continue it or choose another --out")
    if old is not None:
        finished = _finished(run, old)
        before, now = _comparable(old.get("fingerprint") or {}, finished=finished), _comparable(fingerprint, finished=finished)
        if before != now:
            diff = sorted(k for k in now if before.get(k) != now[k])
            raise OptionError(f"cannot resume {run.path}: its config differs in {diff}; use another --out")


def _finished(run: RunDir, old: dict[str, Any] | None) -> bool:
    """True for a finished run with its merged files: a resume has nothing to score. Re-merging would
    need the per-unit part files (``shards/``), which a copied or committed run directory does not
    carry (the curated runs in results/ leave them out), and would overwrite its recorded phase times."""
    return (old is not None and old.get("status") == "finished" and run.records_path.is_file()
            and run.curves_path.is_file() and run.summary_path.is_file())  # fmt: skip


def _config_json(ctx: RunContext, run_id: str, old: dict[str, Any] | None) -> dict[str, Any]:
    fingerprint = ctx.config.fingerprint()
    config = {
        "run_id": run_id, "fingerprint": fingerprint, **fingerprint,
        "n_samples_requested": ctx.requested.n_samples, "git_hash": git_hash(), "date": _now(),
        "versions": package_versions(), **ctx.describe(),
        "seed_rule": "unit seed = crc32(f'{seed}/{method}/{batch_index}') & 0x7fffffff",
        "ci": "95% interval of the mean over ok samples: Wilson for binary values, seeded bootstrap clipped "
              "to the declared range otherwise (summary.csv column ci_method)", "status": "running",
    }  # fmt: skip
    if old is not None:
        config["date"] = old.get("date", config["date"])
        config["resumed"] = old.get("resumed", 0) + 1
    return config


def _loop(ctx: RunContext, run: RunDir, run_id: str, ranks: Ranks | None = None) -> None:
    """Score every unit not yet stored, batch by batch, and store it (with ``ranks``: only its batches).

    Samples load through :class:`~attrbench.datasets.isolation.IsolatingDataset`: a sample that
    cannot be loaded is recorded failed (with the reason naming its file) in every method's unit
    of its batch (:func:`attrbench.unit_failures.lost_records`); the other samples are scored.
    """
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from attrbench.datasets.isolation import IsolatingDataset, collate_isolated
    from attrbench.scoring import score_unit
    from attrbench.unit_failures import ReferenceBatch, lost_records, merge_frames

    n_methods = len(ctx.methods)
    n_batches = -(-len(ctx.samples) // ctx.config.batch_size)
    loader = DataLoader(IsolatingDataset(ctx.samples), batch_size=ctx.config.batch_size, shuffle=False,
                        collate_fn=collate_isolated, num_workers=0)  # fmt: skip
    reference = ReferenceBatch(ctx)
    bar = tqdm(total=n_batches * n_methods, desc="attrbench run", unit="unit", disable=not ctx.config.progress,
               leave=False)  # fmt: skip
    try:
        for bi, (batch, lost) in enumerate(loader):
            if ranks is not None and not ranks.owns(bi):  # another rank's batch (attrbench.distributed)
                bar.update(n_methods)
                continue
            todo = [(mi, m) for mi, m in enumerate(ctx.methods) if not run.unit_done(mi, bi, label=m.label)]
            bar.update(n_methods - len(todo))
            if not todo:
                continue
            target = None
            if batch is not None:
                batch = ctx.prepare_batch(batch)
                target = ctx.track.make_target(model=ctx.model, batch=batch)
                reference.offer(batch)
            for mi, method in todo:
                parts = []
                if batch is not None:
                    with _amp(ctx):
                        parts.append(score_unit(ctx, method, batch_index=bi, batch=batch, target=target, run_id=run_id))
                if lost:
                    parts.append(lost_records(ctx, method, lost, reference=reference.get(), run_id=run_id))
                with ctx.clock.phase("write units"):
                    records, curves = merge_frames(parts)
                    run.write_unit(mi, bi, records, curves, label=method.label)
                bar.update(1)
    finally:
        bar.close()


def _amp(ctx: RunContext) -> AbstractContextManager[Any]:
    """float16 autocast on CUDA with ``--amp`` (refused on CPU by RunContext.open), else nothing."""
    return torch.autocast("cuda", dtype=torch.float16) if ctx.config.amp else nullcontext()


def _units(ctx: RunContext) -> list[tuple[int, int, str | None]]:
    n_batches = -(-len(ctx.samples) // ctx.config.batch_size)
    return [(bi, mi, m.label) for bi in range(n_batches) for mi, m in enumerate(ctx.methods)]


def run(config: RunConfig, *, model: ImageModel | None = None, dataset: Any = None) -> RunDir:
    """Run ``config`` and return its :class:`RunDir` (records, curves, summary written).

    The run directory is owned by this process while it runs (:class:`attrbench.runlock.RunLock`,
    taken before its contents are looked at); ``--out`` is checked first (:mod:`attrbench.outdir`).

    Args:
        config: the run's options.
        model: the model as an object (else ``config.model`` is loaded).
        dataset: the dataset as an object, a sequence of :class:`Sample` (else ``config.dataset``).
    """
    check_out_target(config.out)
    ranks = ranks_from_env(resolve_device(config.device))  # torchrun: WORLD_SIZE > 1 (attrbench.distributed)
    t_load = time.perf_counter()
    ctx = RunContext.open(config, model=model, dataset=dataset)
    ctx.clock.add("load", time.perf_counter() - t_load)
    with cpu_threads(ctx.threads):
        return _run_opened(ctx, config, ranks)


def _run_opened(ctx: RunContext, config: RunConfig, ranks: Ranks) -> RunDir:
    """The run after its context is open, at the run's thread count (one rank's part under torchrun)."""
    if ranks.active:
        try:
            return _run_ranks(ctx, config, ranks)
        finally:
            ranks.close()
    fingerprint = ctx.config.fingerprint()
    run_dir = _run_dir(config, fingerprint)
    check_out_folder(run_dir.path, force=config.force)
    with RunLock(run_dir.path):
        run_dir.config_key, run_dir.units = config_key(fingerprint), _units(ctx)
        run_id = run_dir.path.resolve().name
        old = run_dir.read_config()
        _check_resume(run_dir, old, fingerprint, config.resume)
        if _finished(run_dir, old):  # --resume of a finished run: nothing to continue, keep its files as they are
            return run_dir
        if old is not None and old.get("sample_ids") is not None:  # a resumed run scores its recorded samples
            from torch.utils.data import Subset

            from attrbench.sampling import indices_of

            ctx.samples = Subset(ctx.dataset, indices_of(ctx.dataset, old["sample_ids"]))
        ctx.memory = plan_run(ctx)
        stored = _config_json(ctx, run_id, old)
        stored["memory"] = ctx.memory.as_record()
        run_dir.write_config(stored)
        _loop(ctx, run_dir, run_id)
        _finish(ctx, run_dir, stored, time.perf_counter())
    return run_dir


def _finish(ctx: RunContext, run_dir: RunDir, stored: dict[str, Any], t_merge: float) -> None:
    """Merge the parts, write the summary and the finished config.json (the leader of a torchrun job)."""
    run_dir.merge()
    import pyarrow.parquet as pq

    from attrbench.runsets import declared_ranges

    records = pq.read_table(run_dir.records_path).to_pandas()
    curves = pq.read_table(run_dir.curves_path).to_pandas()
    ranges = declared_ranges([stored])  # intervals of bounded metrics stay in range
    run_dir.write_summary(summarise(records, method_order=[m.label for m in ctx.methods], ranges=ranges,
                                    curves=curves))  # fmt: skip
    if "memory" in stored:
        stored["memory"].update(peak_memory(ctx.device))
    ctx.clock.add("merge and summary", time.perf_counter() - t_merge)
    stored.update(status="finished", finished=_now(), phase_seconds=ctx.clock.as_record())
    run_dir.write_config(stored)


def _run_ranks(ctx: RunContext, config: RunConfig, ranks: Ranks) -> RunDir:
    """One rank's part of a torchrun job (:mod:`attrbench.distributed`, steps 1-3).

    Rank 0's failure to set the run up (an occupied ``--out``, a refused resume) is raised on
    every rank, so that no rank waits for a directory that will not come.
    """
    ctx.forward_batch, ctx.forward_probe = ranks.broadcast((ctx.forward_batch, ctx.forward_probe))
    fingerprint = ctx.config.fingerprint()
    with ExitStack() as stack:
        setup: tuple[str, Any] = ("ok", None)
        if ranks.leader:
            try:
                run_dir = _run_dir(config, fingerprint)
                check_out_folder(run_dir.path, force=config.force)
                stack.enter_context(RunLock(run_dir.path))
                old = run_dir.read_config()
                _check_resume(run_dir, old, fingerprint, config.resume)
                ctx.memory = plan_run(ctx)
                stored = _config_json(ctx, run_dir.path.resolve().name, old)
                stored.update(memory=ctx.memory.as_record(), world_size=ranks.world)
                run_dir.write_config(stored)
                setup = ("ok", str(run_dir.path))
            except Exception as exc:  # re-raised below, on every rank
                setup = ("error", exc)
        setup = ranks.broadcast(setup)
        if setup[0] == "error":
            raise setup[1]
        run_dir = RunDir(setup[1])
        if not ranks.leader:
            ctx.memory = plan_run(ctx)
        run_dir.config_key, run_dir.units = config_key(fingerprint), _units(ctx)
        _loop(ctx, run_dir, run_dir.path.resolve().name, ranks=ranks)
        ranks.barrier()
        if ranks.leader:
            _finish(ctx, run_dir, stored, time.perf_counter())
        ranks.barrier()
    return run_dir


def evaluate(
    *,
    methods: Sequence[str | type[AttributionMethod]],
    model: str | ImageModel | None = None,
    dataset: str | Sequence[Sample] | None = None,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Benchmark ``methods`` and return the run's records (also stored in the run directory).

    Args:
        methods: method specs (``"ig"``, ``"gradcam[layer=net.layer3]"``, ``"pkg.mod:Class"``) or classes.
        model: a model name (see :func:`attrbench.models.load_model`), an :class:`ImageModel`, or
            None for the track's default.
        dataset: a dataset name (``attrbench.datasets.DATASETS``), a sequence of :class:`Sample`,
            or None for the track's default.
        progress: show a progress bar.
        **options: any other :class:`RunConfig` field (``metrics``, ``n_samples``, ``seed``,
            ``out``, ``postprocess``, ``track``, ``device``, ...).

    Returns:
        records in long format (columns :data:`attrbench.results.RECORD_COLUMNS`).
    """
    unknown = sorted(set(options) - set(RunConfig.field_names()))
    if unknown:
        raise TypeError(f"evaluate() got unknown options {unknown}; see attrbench.runspec.RunConfig for the options")
    config = RunConfig(
        methods=list(methods),
        model=model if isinstance(model, str) or model is None else model.spec.name,
        dataset=dataset if isinstance(dataset, str) or dataset is None else getattr(dataset, "name", "custom"),
        progress=progress,
        **{k: (str(v) if k == "out" and v is not None else v) for k, v in options.items()},
    )
    result = run(
        config,
        model=None if isinstance(model, str) or model is None else model,
        dataset=None if isinstance(dataset, str) or dataset is None else dataset,
    )
    import pyarrow.parquet as pq

    return pq.read_table(result.records_path).to_pandas()
