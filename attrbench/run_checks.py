"""The checks and loading that :meth:`attrbench.context.RunContext.open` does before it builds
anything: the config's names and options (before the model loads), the dataset at the model's
input size, ``--image-size`` on the model, and the first sample that loads.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from attrbench.api import Sample
from attrbench.errors import DataError, OptionError
from attrbench.metric_specs import spec_suffixes
from attrbench.models.common import ImageModel
from attrbench.options import validate_max_forward_batch, validate_options
from attrbench.probe import parse_forward_batch, parse_threads
from attrbench.runspec import RunConfig, parse_spec
from attrbench.sampling import check_choices
from attrbench.tracks import Track

__all__ = ["apply_image_size", "check_config", "check_samples", "load_dataset"]


def check_config(config: RunConfig, *, dataset_given: bool) -> None:
    """Fail on an empty or malformed config and on unknown names before loading anything heavy."""
    from attrbench.methods import get_method
    from attrbench.metrics import get_metric

    if not config.methods:
        raise OptionError("no method given; pass at least one (e.g. --method ig)")
    if config.batch_size < 1 or config.n_samples < 1:
        raise OptionError(f"batch_size and n_samples must be positive, got {config.batch_size} and {config.n_samples}")
    from attrbench.datasets.transforms import check_resize, output_size

    check_resize(config.resize)
    if config.image_size is not None:
        output_size(config.image_size)
    for item in config.methods:
        if not isinstance(item, type):
            name, options = parse_spec(item)
            validate_options(get_method(name), options, spec=item)
    for item in config.metrics or []:
        name, options = parse_spec(item)
        validate_options(get_metric(name), options, spec=item)
    validate_max_forward_batch(config.max_forward_batch)
    parse_forward_batch(config.forward_batch)
    parse_threads(config.threads)
    check_choices(sampling=config.sampling, target=config.target)
    spec_suffixes(list(config.metrics or []))  # one specification given twice
    if not dataset_given and config.dataset is not None:
        from attrbench.datasets import registry as datasets

        datasets.path(config.dataset)


def load_dataset(config: RunConfig, name: str, model: ImageModel, track: Track) -> Any:
    """The dataset at the model's input size, brought there by ``config.resize``."""
    import inspect

    from attrbench.datasets import registry as datasets
    from attrbench.datasets.transforms import DEFAULT_RESIZE

    h, w = model.spec.input_size
    cls = datasets.get(name)
    kwargs: dict[str, Any] = {"split": config.split, "image_size": (int(h), int(w)), **track.dataset_kwargs}
    if "resize" in inspect.signature(cls).parameters:
        kwargs["resize"] = config.resize
    elif config.resize != DEFAULT_RESIZE:
        raise OptionError(f"dataset {name!r} does not take --resize (its class {cls.__name__} has no 'resize' option)")
    if config.data_root is not None:
        kwargs["root"] = config.data_root
    return cls(**kwargs)


def apply_image_size(model: ImageModel, image_size: int | tuple[int, int] | None) -> ImageModel:
    """``model`` whose ``spec.input_size`` is ``image_size`` (``--image-size``; None keeps it)."""
    if image_size is None:
        return model
    from attrbench.datasets.transforms import output_size

    size = output_size(image_size)
    if tuple(model.spec.input_size) != size:
        model.spec = dataclasses.replace(model.spec, input_size=size)
    return model


def check_samples(dataset: Any, name: str, config: RunConfig, model: ImageModel) -> int:
    """The number of samples to evaluate, after checking the first one fits the model."""
    if len(dataset) == 0:
        where = f" at {config.data_root}" if config.data_root else ""
        raise DataError(f"dataset {name!r}{where} is empty (split {config.split!r}): no samples to evaluate")
    from attrbench.datasets.isolation import first_loading

    _, first = first_loading(dataset, limit=min(config.n_samples, len(dataset)))  # a bad first file fails one sample
    if not isinstance(first, Sample):
        raise DataError(f"dataset {name!r} must yield attrbench.api.Sample, got {type(first).__name__}")
    rf = model.spec.receptive_field or 0
    if tuple(first.image.shape[-2:]) != tuple(model.spec.input_size) and first.image.shape[-1] < rf:
        raise DataError(f"dataset {name!r} images {tuple(first.image.shape)} are smaller than the model's receptive field")
    return min(config.n_samples, len(dataset))
