"""Run configuration and the ``name[key=value,...]`` spec syntax shared by methods and metrics.

A spec names a registered object and its constructor options: ``gradcam[layer=net.layer3]``,
``deletion[steps=8,fill=blur]``, ``pkg.module:Class[alpha=0.5]``. Values parse as int, float,
bool (true/false), None (none) or str; ``a;b`` gives a tuple.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from collections.abc import Mapping
from typing import Any

from attrbench.errors import OptionError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_FORWARD_BATCH",
    "DEFAULT_N_SAMPLES",
    "RunConfig",
    "parse_spec",
    "split_specs",
    "unit_seed",
]

#: defaults chosen from measurements on the 2-core CPU (forward time per image of bagnet17-synthbirds
#: at 96 px: batches of 16 were ~1.5x slower per image than 32-128, which were equal within noise;
#: IG with 32 steps holds B * 32 images with gradients, ~5 GB RSS at B = 16, so B = 8).
DEFAULT_N_SAMPLES = 48
DEFAULT_BATCH_SIZE = 8
DEFAULT_MAX_FORWARD_BATCH = 64

_SPEC = re.compile(r"^\s*([^\[\]]+?)\s*(?:\[(.*)\])?\s*$")


def split_specs(text: str) -> list[str]:
    """Split ``"a,b[k=1,j=2],c"`` at commas outside brackets."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return [s for s in out if s]


def _parse_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``"gradcam[layer=net.layer3,relu=false]"`` -> ("gradcam", {"layer": "net.layer3", "relu": False}).

    Values parse as int, float, bool (true/false), None (none) or else str; ``a;b`` gives a tuple.
    """
    match = _SPEC.match(text)
    if not match:
        raise OptionError(f"cannot parse {text!r}; expected name or name[key=value,...]")
    name, body = match.group(1), match.group(2)
    options: dict[str, Any] = {}
    for item in split_specs(body or ""):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"cannot parse option {item!r} in {text!r}; expected key=value")
        options[key.strip()] = (
            tuple(_parse_value(v) for v in value.split(";")) if ";" in value else _parse_value(value)
        )
    return name, options


#: marks the RunConfig fields that say *how* a run executes (device, output place, resume, progress
#: bar), not *what* it computes; they are neither fingerprinted nor stored with results.
_RUNTIME: dict[str, bool] = {"runtime": True}


@dataclasses.dataclass(kw_only=True)
class RunConfig:
    """Everything that defines a run: the one list of run options.

    The stored fields (all but the runtime ones) are the run's *fingerprint*: written to
    ``config.json``, compared on resume, kept by a CI baseline and read back by
    :meth:`from_dict` (gallery, check). ``model``/``dataset`` None mean the track's defaults
    (:class:`attrbench.tracks.Track`), so the default model is declared once, by the track.

    Attributes:
        methods: method specs (``"ig"``, ``"gradcam[layer=net.layer3]"``, ``"pkg.mod:Class"``) or classes.
        model: model name, checkpoint path or ``module:factory``; None = the track's default.
        dataset: dataset name; None = the track's default.
        data_root, split, weights: where the data and weights come from (``weights`` also reaches a
            ``module:factory`` as its ``weights`` keyword).
        model_args: keyword arguments of a ``module:factory`` model (``--model-arg key=value``;
            strings are typed by the factory's signature, :mod:`attrbench.models.factory`).
        metrics: metric specs; None = the track's defaults that apply.
        n_samples, batch_size, seed: ``n_samples`` items, in batches, and the run seed.
        sampling: how the items are chosen: "stratified" (default, seeded, over classes) or
            "first" (:mod:`attrbench.sampling`).
        target: explain the "true" (labelled) or the "predicted" class.
        postprocess: preset name (:data:`attrbench.postprocess.PRESETS`) or a PostProcess object
            for every method; None: each method's declared preset (:func:`attrbench.postprocess.preset_for`).
        track: "classification" or "embedding".
        max_forward_batch: images per forward pass in perturbation curves (an upper bound: the
            memory budget may lower it, :mod:`attrbench.memory`).
        image_size: input side (or (H, W)) the data is brought to; None = the model's input size.
            A different size also becomes the model's ``spec.input_size`` (fully convolutional
            models, factories).
        resize: "shorter-crop" (default), "squash" or "pad" (:mod:`attrbench.datasets.transforms`).
        memory_budget: bytes ("4GB", "512MB", an int) or a fraction of the available memory
            ("0.25"); None = :data:`attrbench.memory.DEFAULT_FRACTION` of it. Runtime: it changes
            chunk sizes, so results only by floating-point reassociation.
        amp: float16 autocast for methods and metrics (CUDA only; refused on CPU); changes values,
            so it is stored.
        channels_last: runtime: the model and batches in channels-last memory format; None (default)
            = on for attrbench's own architectures, off for other models
            (:func:`attrbench.models.layout.channels_last_by_default`). Values differ by
            floating-point rounding at most (docs/forward_batches.md, "Memory layout").
        forward_batch: runtime: "auto" (default: the chunk measured once per model, input size
            and device, :func:`attrbench.probe.run_forward_batch`, recorded in config.json), "max"
            (balanced chunks of ``max_forward_batch``) or an int; changes speed, not results.
        threads: runtime: CPU threads of the whole run, "auto" (default: the fastest count from 1
            to the process's count, timed when the run starts, :func:`attrbench.probe.run_threads`,
            recorded in config.json) or an int; changes speed, not results (float reassociation).
        device, out, resume, progress, force: runtime options (not fingerprinted); ``force`` lets
            ``out`` be a non-empty folder that is not a run directory (:mod:`attrbench.outdir`).
    """

    methods: list[Any]
    model: str | None = None
    dataset: str | None = None
    data_root: str | None = None
    split: str = "test"
    weights: str | None = None
    model_args: dict[str, Any] | None = None
    metrics: list[str] | None = None
    n_samples: int = DEFAULT_N_SAMPLES
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = 0
    sampling: str = "stratified"
    target: str = "true"
    postprocess: Any = None
    track: str = "classification"
    max_forward_batch: int = DEFAULT_MAX_FORWARD_BATCH
    image_size: int | tuple[int, int] | None = None
    resize: str = "shorter-crop"
    memory_budget: str | None = dataclasses.field(default=None, metadata=_RUNTIME)
    amp: bool = False
    channels_last: bool | None = dataclasses.field(default=None, metadata=_RUNTIME)
    forward_batch: int | str = dataclasses.field(default="auto", metadata=_RUNTIME)
    threads: int | str = dataclasses.field(default="auto", metadata=_RUNTIME)
    device: str | None = dataclasses.field(default=None, metadata=_RUNTIME)
    out: str | None = dataclasses.field(default=None, metadata=_RUNTIME)
    resume: bool = dataclasses.field(default=False, metadata=_RUNTIME)
    progress: bool = dataclasses.field(default=True, metadata=_RUNTIME)
    force: bool = dataclasses.field(default=False, metadata=_RUNTIME)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every option's name (a command line or an API maps its options onto these)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def stored_fields(cls) -> tuple[str, ...]:
        """Names of the fields that define the results (everything but the runtime options)."""
        return tuple(f.name for f in dataclasses.fields(cls) if not f.metadata.get("runtime"))

    def fingerprint(self) -> dict[str, Any]:
        """The stored fields as JSON values (a PostProcess object as its dict, a class as its name).

        Two runs with equal fingerprints compute the same records; a resume requires it.
        """
        out: dict[str, Any] = {}
        for name in self.stored_fields():
            value = vars(self)[name]
            if name == "postprocess" and value is not None and not isinstance(value, str):
                value = value.as_dict()
            elif name == "methods":
                value = [m if isinstance(m, str) else m.info.name for m in value]
            out[name] = value
        return json.loads(json.dumps(out, default=str))

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any], **overrides: Any) -> RunConfig:
        """The RunConfig a stored config (``config.json``, a baseline's ``config``) describes.

        Keys that are not stored fields are ignored; a stored config without ``sampling`` (written
        before sampling existed) took the first ``n_samples`` items; a stored ``postprocess_config`` (the resolved
        preset a run wrote) wins over the preset name. ``overrides`` replace fields (runtime
        options, another model path or data root, the methods to re-run).
        """
        values = {k: stored[k] for k in cls.stored_fields() if stored.get(k) is not None}
        if "fingerprint" in stored or "n_samples" in stored:
            values.setdefault("sampling", "first")  # a run stored before issue 10 took the first n items
        if stored.get("postprocess_config"):
            from attrbench.postprocess import PostProcess

            values["postprocess"] = PostProcess.from_dict(stored["postprocess_config"])
        values.setdefault("methods", [])
        values.update(overrides)
        return cls(**values)


def unit_seed(seed: int, method: str, batch_index: int) -> int:
    """The seed of one (method, batch) unit: crc32(f"{seed}/{method}/{batch_index}") & 0x7fffffff."""
    return zlib.crc32(f"{seed}/{method}/{batch_index}".encode()) & 0x7FFFFFFF
