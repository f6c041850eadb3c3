"""The run context: everything a :class:`RunConfig` opens, built once, shared by every consumer.

:meth:`RunContext.open` performs the set-up phases in this order:

1. check the config and every method, metric and dataset name (before anything heavy loads);
2. load the model (``model`` or the track's default) on the device and the dataset with the
   model's input size and the track's ``dataset_kwargs``; keep ``n_samples`` items (:mod:`attrbench.sampling`);
3. choose the metrics (the config's, or the track's defaults that apply:
   :func:`attrbench.metrics.applicability.inapplicable`) and the post-processing;
4. prepare the track on the run's samples, then build each method once, with the track's
   ``method_kwargs``.

:meth:`RunContext.prepare_batch` moves a batch to the device and the model's dtype and replaces
unknown labels (-1) by the model's top prediction. The runner (:mod:`attrbench.runner`), the
gallery (:mod:`attrbench.gallery`) and the CI check (:func:`attrbench.check.rerun`) all go
through this object, so they see the same model, split, samples, targets and methods.
"""

from __future__ import annotations

import dataclasses
import enum
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from attrbench.api import AttributionMethod, Batch, Sample, collate
from attrbench.device import resolve_device
from attrbench.errors import DataError, OptionError
from attrbench.geometry import placing_geometry
from attrbench.metrics.base import Metric
from attrbench.models.bagnet import ReceptiveField
from attrbench.models.common import ImageModel
from attrbench.metric_specs import spec_suffixes
from attrbench.phases import PhaseClock
from attrbench.models.layout import channels_last_by_default
from attrbench.probe import ForwardProbe, cpu_threads, run_forward_batch, run_threads
from attrbench.truth_cache import TruthCache
from attrbench.options import build_component, canonical_label
from attrbench.postprocess import preset_for
from attrbench.runspec import RunConfig, parse_spec
from attrbench.references import run_declarations
from attrbench.sampling import select_indices
from attrbench.run_checks import apply_image_size, check_config, check_samples, load_dataset
from attrbench.tracks import Track, get_track

__all__ = ["PreparedMethod", "RunContext", "seed_all"]


def seed_all(seed: int) -> None:
    """Seed every generator a method may draw from: torch, numpy and :mod:`random`."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


@dataclass
class PreparedMethod:
    """A method spec bound to its class, options, track arguments and the one instance of the run.

    Attributes:
        label: the spec as given (``"gradcam[layer=net.layer3]"``), the ``method`` column of records.
        cls: the method class.
        options: constructor options parsed from the spec.
        track_kwargs: constructor arguments from the track (``Track.method_kwargs``) and the run
            (``seed``: the run seed, for a method that takes one and whose spec does not set it).
        instance: the method bound to the run's model.
        postprocess: the method's PostProcess (:func:`attrbench.postprocess.preset_for`), None
            before :meth:`RunContext.open` sets it.
        postprocess_name: its preset name ("custom" for a PostProcess object).
        geometry: its layer's receptive-field geometry, placing its maps (None without a layer).
    """

    label: str
    cls: type[AttributionMethod]
    options: dict[str, Any]
    track_kwargs: dict[str, Any]
    instance: AttributionMethod
    postprocess: Any = None
    postprocess_name: str = ""
    geometry: Any = None

    def rebind(self, model: torch.nn.Module) -> AttributionMethod:
        """The same method (same options and memory limits) on another model of the same architecture."""
        other = self.cls(model, spec=self.instance.spec, **{**self.track_kwargs, **self.options})
        from attrbench.memory import copy_limits

        copy_limits(self.instance, other)
        return other

    @property
    def baseline(self) -> float | None:
        """The pixel baseline the method explains against, when its info declares one."""
        return self.instance.baseline if self.cls.info.needs_baseline else None


def _method_class(item: Any) -> tuple[type[AttributionMethod], dict[str, Any], str]:
    from attrbench.methods import get_method

    if isinstance(item, type):
        return item, {}, item.info.name
    name, options = parse_spec(item)
    return get_method(name), options, canonical_label(item)


@dataclass
class RunContext:
    """An opened run (module docstring); build it with :meth:`open`.

    Attributes:
        config: the resolved config: model and dataset names, method and metric labels, and
            ``n_samples`` as evaluated (at most the dataset's length); its :meth:`RunConfig.fingerprint`
            identifies the run.
        requested: the config as given.
        device: where everything runs; dtype: the model's parameter dtype.
        model: the eval-mode model; track: the prepared track.
        dataset: the whole dataset; samples: its first ``config.n_samples`` items.
        metrics: metric instances, with ``metric_labels`` (their specs) and ``skipped`` (default
            metrics that do not apply -> why).
        methods: each method of the run, built once.
        postprocess: the PostProcess object.
        rf: the model's receptive field (BagNets), else None.
        metric_suffixes: per metric, the suffix of its value and curve names ("" or
            ``"[key=value,...]"``, :func:`attrbench.metric_specs.spec_suffixes`).
        clock: wall seconds per phase and per method (:mod:`attrbench.phases`).
        truths: ground truths computed once per batch and baseline (:mod:`attrbench.truth_cache`).
        forward_batch: images per forward of perturbation curves (``config.forward_batch``
            resolved: the probed chunk for "auto"); forward_probe: the probe behind it, or None.
        threads: CPU threads of the run (``config.threads`` resolved, :func:`attrbench.probe.run_threads`;
            the runner applies it); thread_rates: images/s per count when "auto" measured them.
    """

    config: RunConfig
    requested: RunConfig
    device: torch.device
    dtype: torch.dtype
    model: ImageModel
    track: Track
    dataset: Any
    samples: Subset
    metrics: list[Metric]
    metric_labels: list[str]
    skipped: dict[str, str]
    methods: list[PreparedMethod]
    postprocess: Any
    rf: ReceptiveField | None
    metric_suffixes: list[str] = dataclasses.field(default_factory=list)
    clock: PhaseClock = dataclasses.field(default_factory=PhaseClock)
    truths: TruthCache = dataclasses.field(default_factory=TruthCache)
    forward_batch: int | str = "max"
    forward_probe: ForwardProbe | None = None
    threads: int = 1
    thread_rates: dict[str, float] = dataclasses.field(default_factory=dict)
    #: the memory plan of a run (:func:`attrbench.memory.plan_run`), set by the runner; None outside a run.
    memory: Any = None

    @classmethod
    def open(cls, config: RunConfig, *, model: ImageModel | None = None, dataset: Any = None) -> RunContext:
        """Open ``config`` (model and dataset may be given as objects); see the module docstring.

        Raises:
            OptionError: no method, a method given twice, or a non-positive batch size / sample count.
            DataError: the data, model, methods and metrics do not fit together.
            UnknownNameError: a method, metric, track or dataset name is unknown.
        """
        check_config(config, dataset_given=dataset is not None)
        track = get_track(config.track)
        device = resolve_device(config.device)
        if config.amp and device.type != "cuda":
            raise OptionError(f"--amp needs a CUDA device (float16 autocast, docs/scale-out.md); this run is on {device}")
        if model is None:
            from attrbench.models.zoo import load_model

            model = load_model(config.model or track.default_model, device=device, weights=config.weights,
                               model_args=config.model_args)  # fmt: skip
        else:
            model = model.to(device).eval()
        model = apply_image_size(model, config.image_size)
        dataset_name = config.dataset or ("custom" if dataset is not None else track.default_dataset)
        if dataset is None:
            dataset = load_dataset(config, dataset_name, model, track)
        n = check_samples(dataset, dataset_name, config, model)
        samples = Subset(dataset, select_indices(dataset, n=n, sampling=config.sampling, seed=config.seed))
        metrics, labels, skipped = _metrics(config, track, model, dataset, dataset_name)
        classes = _method_classes(config, model, track)
        track.prepare(model=model, dataset=samples, device=device, seed=config.seed)
        methods = []
        for mcls, options, label in classes:  # after prepare(): track resources (e.g. databases) exist
            kwargs = {**track.method_kwargs(mcls), **run_seed_kwargs(mcls, options, config.seed)}
            instance = build_component(mcls, label, model, spec=model.spec, **{**kwargs, **options})
            pp_name, pp = preset_for(mcls.info, override=config.postprocess)
            methods.append(PreparedMethod(label, mcls, options, kwargs, instance, pp, pp_name,
                                          placing_geometry(model, instance, label=label)))  # fmt: skip
        rf = None
        if model.spec.receptive_field is not None:
            from attrbench.ground_truth import receptive_field_of

            rf = receptive_field_of(model)
        channels_last = channels_last_by_default(model) if config.channels_last is None else bool(config.channels_last)
        resolved = dataclasses.replace(config, methods=[m.label for m in methods], model=model.spec.name,
                                       dataset=dataset_name, metrics=labels, n_samples=n, channels_last=channels_last)  # fmt: skip
        dtype = next(model.parameters()).dtype
        if channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-arg]
        shape = (3, *model.spec.input_size)
        threads, thread_rates = run_threads(model=model, input_shape=shape, device=device, dtype=dtype,
                                            setting=config.threads)  # fmt: skip
        with cpu_threads(threads):
            chunk, probe = run_forward_batch(model=model, input_shape=shape, device=device, dtype=dtype,
                                             setting=config.forward_batch, cap=config.max_forward_batch)  # fmt: skip
        return cls(config=resolved, requested=config, device=device, dtype=dtype,
                   model=model, track=track, dataset=dataset, samples=samples, metrics=metrics,
                   metric_labels=labels, skipped=skipped, methods=methods,
                   postprocess=_postprocessor(config.postprocess), rf=rf,
                   metric_suffixes=spec_suffixes(labels), forward_batch=chunk, forward_probe=probe,
                   threads=threads, thread_rates=thread_rates)  # fmt: skip

    def postprocess_for(self, method: PreparedMethod) -> Any:
        """The PostProcess ``method`` is scored with (its declared preset unless the run sets one)."""
        return method.postprocess if method.postprocess is not None else self.postprocess

    # ---------------------------------------------------------------- batches
    def loader(self) -> DataLoader:
        """The run's samples in scoring order (:mod:`attrbench.sampling`), in batches of ``config.batch_size`` (not yet prepared)."""
        return DataLoader(self.samples, batch_size=self.config.batch_size, shuffle=False, collate_fn=collate,
                          num_workers=0)  # fmt: skip

    def prepare_batch(self, batch: Batch) -> Batch:
        """``batch`` on the device in the model's dtype, unknown labels (-1) (all if ``target="predicted"``) -> top class."""
        batch = batch.to(self.device)
        batch.images = batch.images.to(self.dtype)
        if self.config.channels_last:
            batch.images = batch.images.contiguous(memory_format=torch.channels_last)
        if batch.masks is not None:
            batch.masks = batch.masks.to(self.dtype)
        if self.config.target == "predicted" or bool((batch.labels < 0).any()):
            with torch.no_grad():
                pred = self.model(batch.images).argmax(1)
            batch.labels = pred if self.config.target == "predicted" else torch.where(batch.labels < 0, pred, batch.labels)
        return batch

    def find_samples(self, ids: list[str]) -> Batch:
        """The run's samples with ``ids`` (in that order) as one prepared batch.

        Raises:
            DataError: an id is not among the run's samples.
        """
        found: dict[str, Sample] = {}
        seen: list[str] = []
        for i in range(len(self.samples)):
            sample = self.samples[i]
            seen.append(sample.id)
            if sample.id in ids:
                found[sample.id] = sample
            if len(found) == len(set(ids)):
                break
        missing = [s for s in ids if s not in found]
        if missing:
            raise DataError(f"sample ids {missing} are not among the run's {len(self.samples)} samples "
                            f"(first ids: {seen[:5]})")  # fmt: skip
        return self.prepare_batch(collate([found[s] for s in ids]))

    def describe(self) -> dict[str, Any]:
        """What ``config.json`` records besides the fingerprint: model spec, post-processing, methods, metrics."""
        spec = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.model.spec).items()}
        return {
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "model_spec": spec,
            "model_source": self.requested.model,  # how to rebuild it (factory or path; the gallery)
            "postprocess_config": None if self.config.postprocess is None else self.postprocess.as_dict(),
            "method_config": {m.label: {"class": f"{m.cls.__module__}:{m.cls.__qualname__}",
                                        "info": _info_dict(m.cls.info), "config": m.instance.config,
                                        "seed_source": _seed_source(m),
                                        "geometry": None if m.geometry is None else dataclasses.asdict(m.geometry),
                                        "postprocess": {"preset": m.postprocess_name,
                                                        "config": self.postprocess_for(m).as_dict()}}
                              for m in self.methods},  # fmt: skip
            "metric_info": {label: m.describe() for label, m in zip(self.metric_labels, self.metrics)},
            "skipped_metrics": self.skipped,
            "forward_batch": self.forward_batch,
            "forward_probe": None if self.forward_probe is None else self.forward_probe.as_record(),
            "torch_threads": self.threads,
            "channels_last": self.config.channels_last,
            "thread_images_per_s": self.thread_rates,
            **run_declarations(self),  # coverage_fraction, sample_ids, reference_methods
        }


# -------------------------------------------------------------------- set-up phases
def _metrics(config: RunConfig, track: Track, model: ImageModel, dataset: Any,
             name: str) -> tuple[list[Metric], list[str], dict[str, str]]:  # fmt: skip
    """Metric instances and labels; an explicit metric that does not apply is an error, a default one is skipped."""
    from attrbench.metrics import get_metric
    from attrbench.metrics.applicability import data_truth, inapplicable

    explicit = config.metrics is not None
    truth = data_truth(dataset)
    metrics, labels, skipped = [], [], {}
    for text in list(config.metrics) if explicit else list(track.default_metrics):
        metric_name, options = parse_spec(text)
        mcls = get_metric(metric_name)
        problem = inapplicable(mcls.info, model=model, truth=truth, dataset_name=name)
        if problem is not None:
            if explicit:
                raise DataError(problem + " (drop it from --metrics)")
            skipped[metric_name] = problem
            continue
        metrics.append(build_component(mcls, text, **options))
        labels.append(canonical_label(text))
    return metrics, labels, skipped


def _method_classes(config: RunConfig, model: ImageModel, track: Track) -> list[tuple[type[AttributionMethod], dict[str, Any], str]]:  # fmt: skip
    """(class, options, label) per method, checked against the model and the track before anything is built."""
    from attrbench.tracks import check_method_track

    out = [_method_class(item) for item in config.methods]
    for mcls, _, label in out:
        if mcls.info.needs_ground_truth and not model.spec.has_ground_truth:
            raise DataError(f"method {label!r} needs a model with ground truth; {model.spec.name!r} has none")
        check_method_track(mcls, track.name)
    labels = [label for _, _, label in out]
    if len(set(labels)) != len(labels):
        raise OptionError(f"a method is given twice: {labels}")
    return out


def _postprocessor(postprocess: Any) -> Any:
    """A preset name (:data:`attrbench.postprocess.PRESETS`) or a PostProcess object; None: "signed"."""
    from attrbench.postprocess import DEFAULT_PRESET, get_preset

    if postprocess is None:
        return get_preset(DEFAULT_PRESET)
    if not isinstance(postprocess, str):
        return postprocess
    return get_preset(postprocess)


def run_seed_kwargs(mcls: type, options: dict[str, Any], seed: int) -> dict[str, Any]:
    """``{"seed": seed}`` for a method that takes ``seed`` and whose spec does not set it, else {}.

    One seed for everything: ``--seed`` reaches every stochastic method; ``random[seed=3]`` wins.
    """
    import inspect

    takes = "seed" in inspect.signature(mcls).parameters
    return {"seed": seed} if takes and "seed" not in options else {}


def _seed_source(method: PreparedMethod) -> str | None:
    """Where a method's ``seed`` came from: "method option", "run seed", or None (it takes none)."""
    if "seed" in method.options:
        return "method option"
    return "run seed" if "seed" in method.track_kwargs else None


def _info_dict(info: Any) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in dataclasses.asdict(info).items()}
