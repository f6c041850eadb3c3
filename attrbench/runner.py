"""The runner: dataset x model x methods x metrics, batched, seeded, streaming and resumable.

Work is split into units (method, batch). For each batch (in dataset order) and each method:

1. seed: ``torch.manual_seed(unit_seed)`` with unit_seed = crc32(f"{seed}/{method}/{batch}"), so a
   unit gives the same result whether it runs first, alone, or after a resume;
2. the track's target; the method call, timed (CUDA synchronised); a sample whose method raises
   or returns NaN/inf is recorded as ``status="failed"`` with the reason (a raising batch is
   retried sample by sample to isolate the culprit) and the run goes on;
3. post-processing (named, recorded in the config) to (B, 1, H, W) maps;
4. every metric on the whole batch (a metric that raises fails its values, not the run);
5. the unit's records and curves are written as part files (temp file + rename).

``resume=True`` skips units whose part exists; the final merge concatenates the parts in
(batch, method) order, so a resumed run has exactly the records of an uninterrupted one.
Memory does not grow with the number of samples: only one batch is in flight.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from attrbench.api import AttributionMethod, Batch, Sample, Target, collate
from attrbench.device import resolve_device
from attrbench.errors import DataError, OptionError
from attrbench.metrics.base import Metric, MetricContext, MetricResult
from attrbench.models.common import ImageModel
from attrbench.options import build_component
from attrbench.results import RunDir, UnitRecords, git_hash, package_versions, summarise
from attrbench.runspec import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_FORWARD_BATCH,
    DEFAULT_N_SAMPLES,
    RunConfig,
    parse_spec,
    split_specs,
    unit_seed,
)

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_N_SAMPLES", "RunConfig", "evaluate", "parse_spec", "run", "split_specs"]

def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _postprocessor(postprocess: Any) -> Any:
    """A preset name (:data:`attrbench.postprocess.PRESETS`) or a PostProcess object."""
    if not isinstance(postprocess, str):
        return postprocess
    from attrbench.postprocess import get_preset

    return get_preset(postprocess)


def _subset_batch(batch: Batch, idx: Tensor) -> Batch:
    def pick(t: Tensor | None) -> Tensor | None:
        return None if t is None else t[idx]

    ids = [batch.ids[i] for i in idx.tolist()]
    return Batch(batch.images[idx], batch.labels[idx], ids, pick(batch.masks), pick(batch.bboxes), pick(batch.parts))


class _Method:
    """A method spec bound to its class, options and instance."""

    def __init__(self, label: str, cls: type[AttributionMethod], options: dict[str, Any], instance: AttributionMethod):
        self.label, self.cls, self.options, self.instance = label, cls, options, instance

    def make(self, model: torch.nn.Module, spec: Any, extra: dict[str, Any]) -> AttributionMethod:
        return self.cls(model, spec=spec, **{**extra, **self.options})


class Runner:
    """Runs one :class:`RunConfig` (model/dataset may also be given as objects)."""

    def __init__(self, config: RunConfig, *, model: ImageModel | None = None, dataset: Any = None) -> None:
        self.cfg = config
        self._model_obj = model
        self._dataset_obj = dataset

    # ---------------------------------------------------------------- setup
    def _load_model(self, device: torch.device) -> ImageModel:
        if self._model_obj is not None:
            return self._model_obj.to(device).eval()
        from attrbench.models.zoo import load_model

        return load_model(self.cfg.model, device=device, weights=self.cfg.weights)

    def _load_dataset(self, model: ImageModel) -> Any:
        if self._dataset_obj is not None:
            return self._dataset_obj
        from attrbench.datasets import registry as datasets

        cls = datasets.get(self.cfg.dataset)
        h, w = model.spec.input_size
        if h != w:
            raise DataError(f"model {model.spec.name!r} takes {h}x{w} inputs; datasets resize to squares only")
        kwargs: dict[str, Any] = {"split": self.cfg.split, "image_size": int(h)}
        kwargs.update(getattr(self._track, "dataset_kwargs", {}))  # a track's protocol, e.g. unseen classes
        if self.cfg.data_root is not None:
            kwargs["root"] = self.cfg.data_root
        return cls(**kwargs)

    def _metrics(self, model: ImageModel, first: Sample) -> tuple[list[Metric], list[str], dict[str, str]]:
        from attrbench.metrics import get_metric

        explicit = self.cfg.metrics is not None
        specs = list(self.cfg.metrics) if explicit else list(self._track.default_metrics)
        metrics, labels, skipped = [], [], {}
        for text in specs:
            name, options = parse_spec(text)
            cls = get_metric(name)
            info = cls.info
            problem = None
            if info.needs_ground_truth and not (model.spec.has_ground_truth and model.has_patch_logits):
                problem = f"metric {name!r} needs a model with patch ground truth (a BagNet); model {model.spec.name!r} has none"
            elif info.needs_mask and first.mask is None:
                problem = f"metric {name!r} needs object masks; dataset {self.dataset_name!r} has none"
            elif info.needs_bbox and first.bbox is None:
                problem = f"metric {name!r} needs bounding boxes; dataset {self.dataset_name!r} has none"
            if problem is not None:
                if explicit:
                    raise DataError(problem + " (drop it from --metrics)")
                skipped[name] = problem
                continue
            metrics.append(build_component(cls, text, **options))
            labels.append(text)
        return metrics, labels, skipped

    def _methods(self, model: ImageModel) -> list[_Method]:
        from attrbench.methods import get_method

        out = []
        for item in self.cfg.methods:
            if isinstance(item, type):
                cls, options, label = item, {}, item.info.name
            else:
                name, options = parse_spec(item)
                cls, label = get_method(name), item.strip()
            if cls.info.needs_ground_truth and not model.spec.has_ground_truth:
                raise DataError(f"method {label!r} needs a model with ground truth; {model.spec.name!r} has none")
            extra = self._track.method_kwargs(cls)
            method = build_component(cls, label, model, spec=model.spec, **{**extra, **options})
            out.append(_Method(label, cls, options, method))
        labels = [m.label for m in out]
        if len(set(labels)) != len(labels):
            raise OptionError(f"a method is given twice: {labels}")
        return out

    def _validate_names(self) -> None:
        """Fail on unknown method/metric/dataset names before loading anything heavy."""
        from attrbench.methods import get_method
        from attrbench.metrics import get_metric

        for item in self.cfg.methods:
            if not isinstance(item, type):
                get_method(parse_spec(item)[0])
        for item in self.cfg.metrics or []:
            get_metric(parse_spec(item)[0])
        if self._dataset_obj is None:
            from attrbench.datasets import registry as datasets

            datasets.path(self.cfg.dataset)

    @property
    def dataset_name(self) -> str:
        if self._dataset_obj is not None:
            return str(getattr(self._dataset_obj, "name", "custom"))
        return self.cfg.dataset

    def _fingerprint(self, model: ImageModel, n: int, metric_labels: list[str]) -> dict[str, Any]:
        c = self.cfg
        return {
            "methods": [m.label for m in self._method_list],
            "model": model.spec.name,
            "weights": c.weights,
            "dataset": self.dataset_name,
            "data_root": c.data_root,
            "split": c.split,
            "metrics": metric_labels,
            "n_samples": n,
            "batch_size": c.batch_size,
            "seed": c.seed,
            "postprocess": c.postprocess if isinstance(c.postprocess, str) else c.postprocess.as_dict(),
            "track": c.track,
            "max_forward_batch": c.max_forward_batch,
        }

    def _run_dir(self, fingerprint: dict[str, Any]) -> tuple[RunDir, str]:
        key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:8]
        if self.cfg.out is not None:
            run = RunDir(self.cfg.out)
            return run, run.path.resolve().name
        base = Path("results") / "runs"
        if self.cfg.resume and base.is_dir():  # the newest run with the same fingerprint
            for candidate in sorted(base.iterdir(), reverse=True):
                cfg = RunDir(candidate).read_config() if candidate.is_dir() else None
                if cfg and cfg.get("fingerprint") == json.loads(json.dumps(fingerprint, default=str)):
                    return RunDir(candidate), candidate.name
        run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S") + f"-{key}"
        return RunDir(base / run_id), run_id

    # ---------------------------------------------------------------- run
    def run(self) -> RunDir:
        from tqdm.auto import tqdm

        from attrbench.tracks import get_track

        c = self.cfg
        if not c.methods:
            raise OptionError("no method given; pass at least one (e.g. --method ig)")
        if c.batch_size < 1 or c.n_samples < 1:
            raise OptionError(f"batch_size and n_samples must be positive, got {c.batch_size} and {c.n_samples}")
        self._validate_names()
        device = resolve_device(c.device)
        self._track = get_track(c.track)
        model = self._load_model(device)
        dataset = self._load_dataset(model)
        if len(dataset) == 0:
            where = f" at {c.data_root}" if c.data_root else ""
            raise DataError(f"dataset {self.dataset_name!r}{where} is empty (split {c.split!r}): no samples to evaluate")
        n = min(c.n_samples, len(dataset))
        subset = Subset(dataset, range(n))
        first = subset[0]
        if not isinstance(first, Sample):
            raise DataError(f"dataset {self.dataset_name!r} must yield attrbench.api.Sample, got {type(first).__name__}")
        if tuple(first.image.shape[-2:]) != tuple(model.spec.input_size) and first.image.shape[-1] < (model.spec.receptive_field or 0):
            raise DataError(f"dataset {self.dataset_name!r} images {tuple(first.image.shape)} are smaller than the model's receptive field")
        metrics, metric_labels, skipped = self._metrics(model, first)
        self._method_list = self._methods(model)
        pp = _postprocessor(c.postprocess)
        fingerprint = self._fingerprint(model, n, metric_labels)
        run, run_id = self._run_dir(fingerprint)
        old = run.read_config()
        if old is not None or run.has_shards():
            if not c.resume:
                raise OptionError(f"run directory {run.path} already holds a run; pass --resume to continue it or choose another --out")
            if old is not None and old.get("fingerprint") != json.loads(json.dumps(fingerprint, default=str)):
                diff = sorted(k for k in fingerprint if old.get("fingerprint", {}).get(k) != json.loads(json.dumps(fingerprint[k], default=str)))
                raise OptionError(f"cannot resume {run.path}: its config differs in {diff}; use another --out")
        dtype = next(model.parameters()).dtype
        rf = None
        if model.spec.receptive_field is not None:
            from attrbench.ground_truth import receptive_field_of

            rf = receptive_field_of(model)
        config = {
            "run_id": run_id,
            "fingerprint": fingerprint,
            **fingerprint,
            "n_samples_requested": c.n_samples,
            "seed": c.seed,
            "git_hash": git_hash(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": package_versions(),
            "device": str(device),
            "dtype": str(dtype).removeprefix("torch."),
            "model_spec": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(model.spec).items()},
            "postprocess_config": pp.as_dict(),
            "method_config": {m.label: {"class": f"{m.cls.__module__}:{m.cls.__qualname__}", "info": _info_dict(m.cls.info), "config": m.instance.config} for m in self._method_list},
            "metric_info": {label: m.describe() for label, m in zip(metric_labels, metrics)},
            "skipped_metrics": skipped,
            "seed_rule": "unit seed = crc32(f'{seed}/{method}/{batch_index}') & 0x7fffffff",
            "ci": "95% Student t-interval of the mean over ok samples",
            "status": "running",
        }
        if old is not None:
            config["date"] = old.get("date", config["date"])
            config["resumed"] = old.get("resumed", 0) + 1
        run.write_config(config)
        self._track.prepare(model=model, dataset=subset, device=device, seed=c.seed)
        extras = {m.label: self._track.method_kwargs(m.cls) for m in self._method_list}
        for m in self._method_list:  # track resources (e.g. a weight-transfer database) exist only after prepare()
            if extras[m.label]:
                m.instance = m.make(model, model.spec, extras[m.label])

        loader = DataLoader(subset, batch_size=c.batch_size, shuffle=False, collate_fn=collate, num_workers=0)
        n_batches = math.ceil(n / c.batch_size)
        bar = tqdm(total=n_batches * len(self._method_list), desc="attrbench run", unit="unit", disable=not c.progress, leave=False)
        meta = {"run_id": run_id, "dataset": self.dataset_name, "model": model.spec.name}
        try:
            for bi, batch in enumerate(loader):
                todo = [(mi, m) for mi, m in enumerate(self._method_list) if not run.unit_done(mi, bi)]
                bar.update(len(self._method_list) - len(todo))
                if not todo:
                    continue
                batch = batch.to(device)
                batch.images = batch.images.to(dtype)
                if batch.masks is not None:
                    batch.masks = batch.masks.to(dtype)
                if bool((batch.labels < 0).any()):  # unknown label -> the model's top prediction
                    with torch.no_grad():
                        pred = model(batch.images).argmax(1)
                    batch.labels = torch.where(batch.labels < 0, pred, batch.labels)
                index = torch.arange(bi * c.batch_size, bi * c.batch_size + len(batch), device=device)
                target = self._track.make_target(model=model, batch=batch)
                for mi, method in todo:
                    records, curves = self._unit(
                        method, extras[method.label], bi, batch, index, target, model, metrics, pp, rf, meta
                    )
                    run.write_unit(mi, bi, records, curves)
                    bar.update(1)
        finally:
            bar.close()
        run.merge()
        import pyarrow.parquet as pq

        records = pq.read_table(run.records_path).to_pandas()
        run.write_summary(summarise(records, method_order=[m.label for m in self._method_list]))
        config["status"] = "finished"
        config["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        run.write_config(config)
        return run

    def _attribute(self, method: _Method, images: Tensor, target: Target, device: torch.device) -> tuple[Tensor | None, dict[int, str], float]:
        """Raw maps (None if every sample failed), per-row failure reasons, seconds."""
        _sync(device)
        t0 = time.perf_counter()
        try:
            raw = method.instance(images, target=target)
            _sync(device)
            seconds = time.perf_counter() - t0
        except Exception as exc:  # isolate the failing samples; the others still count
            seconds = 0.0  # the successful per-sample calls only
            if len(images) == 1:
                return None, {0: f"method raised {type(exc).__name__}: {exc}"}, float("nan")
            rows, failed = [], {}
            for i in range(len(images)):
                try:
                    _sync(device)
                    t1 = time.perf_counter()
                    rows.append(method.instance(images[i : i + 1], target=target.subset(slice(i, i + 1))))
                    _sync(device)
                    seconds += time.perf_counter() - t1
                except Exception as exc_i:
                    failed[i] = f"method raised {type(exc_i).__name__}: {exc_i}"
                    rows.append(None)
            good = [r for r in rows if r is not None]
            if not good:
                return None, failed, seconds
            filler = torch.full_like(good[0], float("nan"))
            raw = torch.cat([filler if r is None else r for r in rows])
            return raw.detach(), failed, seconds
        b = len(images)
        if not torch.is_tensor(raw) or raw.ndim != 4 or raw.shape[0] != b:
            shape = tuple(raw.shape) if torch.is_tensor(raw) else type(raw).__name__
            return None, {i: f"method returned shape {shape}, expected (B={b}, C, h, w)" for i in range(b)}, seconds
        return raw.detach(), {}, seconds

    def _maps(self, method: _Method, batch: Batch, target: Target, pp: Any, rf: Any) -> tuple[Tensor | None, Tensor | None, dict[int, str], float]:  # fmt: skip
        """Raw maps, post-processed maps, failure reasons by row, seconds."""
        raw, failed, seconds = self._attribute(method, batch.images, target, batch.images.device)
        if raw is None:
            return None, None, {i: failed.get(i, "method failed") for i in range(len(batch))}, seconds
        for i in torch.nonzero(~torch.isfinite(raw.flatten(1)).all(dim=1)).flatten().tolist():
            failed.setdefault(i, "method returned NaN/inf")
        with torch.no_grad():
            safe = torch.where(torch.isfinite(raw), raw, torch.zeros_like(raw))
            maps = pp(safe, size=tuple(batch.images.shape[-2:]), info=method.cls.info, rf=rf)
        for i in torch.nonzero(~torch.isfinite(maps.flatten(1)).all(dim=1)).flatten().tolist():
            failed.setdefault(i, "post-processing gave NaN/inf")
        return raw, maps, failed, seconds

    def _unit(self, method: _Method, extra: dict[str, Any], bi: int, batch: Batch, index: Tensor, target: Target,
              model: ImageModel, metrics: list[Metric], pp: Any, rf: Any, meta: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
        """Attribute, post-process and score one (method, batch) unit; returns (records, curves)."""
        seed = unit_seed(self.cfg.seed, method.label, bi)
        _seed_all(seed)
        raw, maps, failed, seconds = self._maps(method, batch, target, pp, rf)
        out = UnitRecords(**meta, method=method.label)
        size = tuple(batch.images.shape[-2:])

        def fail(metric: Metric, names: list[str], rows: list[int], sub: Batch, sub_index: Tensor, reasons: list[str]) -> None:
            keep = metric.selects(sub_index[rows]).tolist() if rows else []
            ids = [sub.ids[r] for r, k in zip(rows, keep) if k]
            errs = [e for e, k in zip(reasons, keep) if k]
            for name in names:
                out.add(metric=name, ids=ids, values=np.full(len(ids), np.nan), errors=errs,
                        higher_is_better=metric.higher_is_better(name), category=metric.info.category.value)  # fmt: skip

        rows_failed = sorted(failed)
        for metric in metrics:
            fail(metric, metric.value_names(model=model, batch=batch), rows_failed, batch, index, [failed[i] for i in rows_failed])
        ok_rows = [i for i in range(len(batch)) if i not in failed]
        if not ok_rows:
            return out.frames()
        idx = torch.tensor(ok_rows, device=batch.images.device)
        sub, sub_target, sub_raw = _subset_batch(batch, idx), target.subset(idx), raw[idx]  # type: ignore[index]
        grid_map = None
        if rf is not None:
            with torch.no_grad():
                reduced = pp.reduce_map(sub_raw)
            if tuple(reduced.shape[-2:]) == rf.grid(*size):  # already on the patch grid: use as it is
                grid_map = reduced[:, 0]

        def explain(other: torch.nn.Module) -> Tensor:
            _seed_all(seed)  # the same noise as for the original map
            raw2 = method.make(other, model.spec, extra)(sub.images, target=sub_target).detach()
            with torch.no_grad():
                return pp(raw2, size=size, info=method.cls.info, rf=rf)

        ctx = MetricContext(
            model=model, batch=sub, target=sub_target, raw=sub_raw, maps=maps[idx],  # type: ignore[index]
            method_info=method.cls.info, explain=explain, sample_index=index[idx], grid_map=grid_map,
            baseline=getattr(method.instance, "baseline", None) if method.cls.info.needs_baseline else None,
            rf=rf, seconds=seconds, seed=seed, max_forward_batch=self.cfg.max_forward_batch,
        )  # fmt: skip
        all_rows = list(range(len(sub)))
        for metric in metrics:
            names = metric.value_names(model=model, batch=sub)
            try:
                result = metric.compute(ctx)
                _check_result(metric, result, names, len(sub))
            except Exception as exc:  # a broken metric fails its values, not the run
                reason = f"metric {metric.info.name!r} raised {type(exc).__name__}: {exc}"
                fail(metric, names, all_rows, sub, ctx.sample_index, [reason] * len(sub))
                continue
            keep = np.ones(len(sub), dtype=bool) if result.present is None else result.present.cpu().numpy().astype(bool)
            ids = [i for i, k in zip(sub.ids, keep) if k]
            for name in names:
                reason = result.reasons.get(name, "value is NaN")
                out.add(metric=name, ids=ids, values=result.values[name].detach().to("cpu", torch.float64).numpy()[keep],
                        errors=[reason] * len(ids), higher_is_better=metric.higher_is_better(name),
                        category=metric.info.category.value)  # fmt: skip
            for cname, curve in result.curves.items():
                out.add_curve(curve=cname, ids=ids, fractions=curve.fractions.detach().to("cpu", torch.float64).numpy(),
                              scores=curve.scores.detach().to("cpu", torch.float64).numpy()[keep])  # fmt: skip
        return out.frames()


def _check_result(metric: Metric, result: MetricResult, names: list[str], b: int) -> None:
    got = set(result.values)
    if got != set(names):
        raise RuntimeError(f"metric {metric.info.name!r} emitted {sorted(got)}, declared {sorted(names)}")
    for name, v in result.values.items():
        if tuple(v.shape) != (b,):
            raise RuntimeError(f"metric {metric.info.name!r} value {name!r} has shape {tuple(v.shape)}, expected ({b},)")


def _info_dict(info: Any) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in dataclasses.asdict(info).items()}


def run(config: RunConfig, *, model: ImageModel | None = None, dataset: Any = None) -> RunDir:
    """Run ``config`` and return its :class:`RunDir` (records, curves, summary written)."""
    return Runner(config, model=model, dataset=dataset).run()


def evaluate(
    *,
    methods: Sequence[str | type[AttributionMethod]],
    model: str | ImageModel = "bagnet17-synthbirds",
    dataset: str | Sequence[Sample] = "synthbirds",
    data_root: str | None = None,
    metrics: Sequence[str] | None = None,
    n_samples: int = DEFAULT_N_SAMPLES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    postprocess: Any = "raw",
    track: str = "classification",
    resume: bool = False,
    weights: str | None = None,
    max_forward_batch: int = DEFAULT_MAX_FORWARD_BATCH,
    progress: bool = False,
) -> pd.DataFrame:
    """Benchmark ``methods`` and return the run's records (also stored in the run directory).

    Args:
        methods: method specs (``"ig"``, ``"gradcam[layer=net.layer3]"``, ``"pkg.mod:Class"``) or classes.
        model: a model name (see :func:`attrbench.models.load_model`) or an :class:`ImageModel`.
        dataset: a dataset name (``attrbench.datasets.DATASETS``) or a sequence of :class:`Sample`.
        metrics: metric specs (``"deletion[steps=8]"``); None = the track's defaults that apply.
        out: run directory (default ``results/runs/<run-id>``).
        postprocess: preset name from ``attrbench.postprocess.PRESETS`` or a PostProcess object.

    Returns:
        records in long format (columns :data:`attrbench.results.RECORD_COLUMNS`).
    """
    config = RunConfig(
        methods=list(methods),  # type: ignore[arg-type]
        model=model if isinstance(model, str) else model.spec.name,
        dataset=dataset if isinstance(dataset, str) else getattr(dataset, "name", "custom"),
        data_root=data_root,
        weights=weights,
        metrics=list(metrics) if metrics is not None else None,
        n_samples=n_samples,
        batch_size=batch_size,
        device=device,
        seed=seed,
        out=str(out) if out is not None else None,
        postprocess=postprocess,
        track=track,
        resume=resume,
        max_forward_batch=max_forward_batch,
        progress=progress,
    )
    result = run(
        config,
        model=None if isinstance(model, str) else model,
        dataset=None if isinstance(dataset, str) else dataset,
    )
    import pyarrow.parquet as pq

    return pq.read_table(result.records_path).to_pandas()
