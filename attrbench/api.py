"""Typed contracts between the parts of attrbench.

Data flows one way (docs/architecture.md):

    Dataset -> Sample -> Batch (on device) -> model -> Target (one scalar per sample)
    -> AttributionMethod -> raw attribution -> postprocess -> map (B, 1, H, W)
    -> Metric -> values per sample -> Records

Everything a run needs to know about a model travels in :class:`ModelSpec`; everything about a
method in :class:`MethodInfo`; everything about a metric in :class:`MetricInfo`. These are frozen
class-level metadata, never guessed at run time.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

__all__ = [
    "AttributionMethod",
    "Batch",
    "ClassLogit",
    "ClassProbability",
    "FunctionTarget",
    "MethodInfo",
    "MetricCategory",
    "MetricInfo",
    "ModelSpec",
    "Resolution",
    "Sample",
    "Target",
    "collate",
]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One image with whatever truth the dataset has.

    Attributes:
        image: (3, H, W) float32 in [0, 1], RGB.
        label: class index (0-based).
        id: stable identifier, unique within the dataset (used for resuming and records).
        mask: (1, H, W) float32 in [0, 1] (soft object mask) or None.
        bbox: (x, y, w, h) in pixels of ``image`` (top-left corner) or None.
        parts: (P, 3) float32 rows (x, y, visible) in pixels of ``image``, or None.
    """

    image: Tensor
    label: int
    id: str
    mask: Tensor | None = None
    bbox: tuple[float, float, float, float] | None = None
    parts: Tensor | None = None


@dataclass
class Batch:
    """A stack of samples on one device.

    Attributes:
        images: (B, 3, H, W).
        labels: (B,) int64.
        ids: B identifiers.
        masks: (B, 1, H, W) or None if any sample lacks a mask.
        bboxes: (B, 4) as (x, y, w, h) or None if any sample lacks a box.
        parts: (B, P, 3) or None.
    """

    images: Tensor
    labels: Tensor
    ids: list[str]
    masks: Tensor | None = None
    bboxes: Tensor | None = None
    parts: Tensor | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: torch.device) -> Batch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return Batch(
            images=self.images.to(device),
            labels=self.labels.to(device),
            ids=list(self.ids),
            masks=move(self.masks),
            bboxes=move(self.bboxes),
            parts=move(self.parts),
        )


def collate(samples: list[Sample]) -> Batch:
    """Stack samples into a :class:`Batch` (usable as a DataLoader ``collate_fn``)."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    shapes = {tuple(s.image.shape) for s in samples}
    if len(shapes) != 1:
        raise ValueError(
            f"images in one batch must share a shape, got {sorted(shapes)}; "
            "give the dataset an image_size so that it resizes them"
        )
    masks = None
    if all(s.mask is not None for s in samples):
        masks = torch.stack([s.mask for s in samples])  # type: ignore[misc]
    bboxes = None
    if all(s.bbox is not None for s in samples):
        bboxes = torch.tensor([s.bbox for s in samples], dtype=torch.float32)
    parts = None
    if all(s.parts is not None for s in samples):
        parts = torch.stack([s.parts for s in samples])  # type: ignore[misc]
    return Batch(
        images=torch.stack([s.image for s in samples]),
        labels=torch.tensor([s.label for s in samples], dtype=torch.long),
        ids=[s.id for s in samples],
        masks=masks,
        bboxes=bboxes,
        parts=parts,
    )


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """What a run must know about a model; never guessed.

    The model itself takes images in [0, 1] (normalisation lives inside it, see
    :class:`attrbench.models.common.ImageModel`), so baselines and fill values are in pixel space.

    Attributes:
        name: registry name or ``module:factory`` string.
        kind: "classifier" (output (B, num_classes) logits) or "embedding" (output (B, D)).
        input_size: (H, W) the model was trained at.
        num_outputs: number of classes (classifier) or embedding dimension.
        mean, std: per-channel normalisation applied inside the model.
        cam_layer: dotted module path (relative to the model) for CAM methods.
        cam_layers: further layers at which CAM methods may be scored.
        receptive_field: q of a BagNet (patch side in pixels), None for models without ground truth.
        rf_stride: stride of the patch grid in pixels (8 for BagNets).
        class_names: optional names of the outputs.
    """

    name: str
    kind: str = "classifier"
    input_size: tuple[int, int] = (224, 224)
    num_outputs: int = 1000
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    cam_layer: str | None = None
    cam_layers: tuple[str, ...] = ()
    receptive_field: int | None = None
    rf_stride: int = 8
    class_names: tuple[str, ...] = ()

    @property
    def has_ground_truth(self) -> bool:
        return self.receptive_field is not None


# --------------------------------------------------------------------------------------------
# Targets: model output -> one scalar per sample
# --------------------------------------------------------------------------------------------
class Target(ABC):
    """Turns model output into one scalar per sample.

    A target carries per-sample tensors (labels, reference embeddings, ...) in
    :attr:`per_sample`; attribution libraries expand them together with the inputs (Captum's
    ``additional_forward_args``), so a target is evaluated as ``target(output, *per_sample)``.
    """

    per_sample: tuple[Tensor, ...]

    @abstractmethod
    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        """Map model output (B, ...) and per-sample tensors (B, ...) to scores (B,)."""

    @abstractmethod
    def subset(self, index: Tensor | slice) -> Target:
        """The same target restricted to samples ``index``."""

    def score(self, output: Tensor) -> Tensor:
        """Scores (B,) for an output computed on exactly this target's samples."""
        return self(output, *self.per_sample)

    def forward_func(self, model: nn.Module):  # -> Callable[..., Tensor]
        """``f(x, *per_sample) -> (B,)``: the scalar function a method explains."""
        target = self

        def f(x: Tensor, *per_sample: Tensor) -> Tensor:
            return target(model(x), *per_sample)

        return f


class ClassLogit(Target):
    """Pre-softmax score of class ``labels[i]`` for sample i (Grad-CAM's y^c)."""

    def __init__(self, labels: Tensor) -> None:
        if labels.ndim != 1:
            raise ValueError(f"labels must be 1-D (B,), got shape {tuple(labels.shape)}")
        self.labels = labels.long()
        self.per_sample = (self.labels,)

    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        (labels,) = per_sample
        return output.gather(1, labels.view(-1, 1)).squeeze(1)

    def subset(self, index: Tensor | slice) -> ClassLogit:
        return ClassLogit(self.labels[index])

    def __repr__(self) -> str:
        return "ClassLogit()"


class ClassProbability(ClassLogit):
    """Softmax probability of class ``labels[i]``."""

    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        (labels,) = per_sample
        return output.softmax(1).gather(1, labels.view(-1, 1)).squeeze(1)

    def subset(self, index: Tensor | slice) -> ClassProbability:
        return ClassProbability(self.labels[index])

    def __repr__(self) -> str:
        return "ClassProbability()"


class FunctionTarget(Target):
    """A target from any function ``fn(output, *per_sample) -> (B,)``.

    Used by the embedding track (triplet loss, similarity to a reference embedding) and by users.
    """

    def __init__(self, fn, *per_sample: Tensor, name: str = "function") -> None:  # noqa: ANN001
        self.fn = fn
        self.per_sample = tuple(per_sample)
        self.name = name

    def __call__(self, output: Tensor, *per_sample: Tensor) -> Tensor:
        return self.fn(output, *per_sample)

    def subset(self, index: Tensor | slice) -> FunctionTarget:
        return FunctionTarget(self.fn, *(t[index] for t in self.per_sample), name=self.name)

    def __repr__(self) -> str:
        return f"FunctionTarget({self.name})"


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------
class Resolution(str, enum.Enum):
    """Where a method's raw attribution lives."""

    INPUT = "input"  # (B, C, H, W), same as the inputs
    LAYER = "layer"  # (B, 1, h, w) at the CAM layer's resolution
    PATCH = "patch"  # (B, 1, H', W') on a BagNet's patch grid


@dataclass(frozen=True)
class MethodInfo:
    """Class-level metadata of an attribution method.

    Attributes:
        name: registry name.
        paper: short reference, e.g. "Sundararajan et al., ICML 2017, arXiv 1703.01365".
        resolution: where the raw attribution lives.
        needs_layer: uses ``spec.cam_layer``.
        needs_baseline: explains f(x) - f(b) for a baseline b (compare with baseline truth).
        needs_ground_truth: only for models with ground truth (the oracle).
        stochastic: uses random numbers (seeded by the runner).
        reference: a reference row (random, edge, oracle), not an attribution method.
    """

    name: str
    paper: str
    resolution: Resolution = Resolution.INPUT
    needs_layer: bool = False
    needs_baseline: bool = False
    needs_ground_truth: bool = False
    stochastic: bool = False
    reference: bool = False


class AttributionMethod(ABC):
    """An attribution method bound to one model.

    Subclasses set ``info`` and implement :meth:`attribute`. Hyperparameters are keyword-only
    constructor arguments with defaults. A method returns *raw* attributions; it never applies
    ReLU, normalisation or upsampling (that is :mod:`attrbench.postprocess`).

    Call as ``method(inputs, target=target)``:
        inputs: (B, 3, H, W) images in [0, 1] on the model's device.
        target: :class:`Target` with B samples.
        returns: (B, C, H, W) for input-resolution methods, (B, 1, h, w) otherwise.
    """

    info: ClassVar[MethodInfo]

    def __init__(self, model: nn.Module, *, spec: ModelSpec) -> None:
        self.model = model
        self.spec = spec

    @abstractmethod
    def attribute(self, inputs: Tensor, *, target: Target) -> Tensor:
        """Raw attribution for a batch; see the class docstring for shapes."""

    def __call__(self, inputs: Tensor, *, target: Target) -> Tensor:
        if inputs.ndim != 4:
            raise ValueError(f"inputs must be (B, C, H, W), got shape {tuple(inputs.shape)}")
        return self.attribute(inputs, target=target)

    @property
    def config(self) -> dict:
        """Hyperparameters for the run config (public attributes that are plain values)."""
        out = {}
        for key, value in vars(self).items():
            if key.startswith("_") or key in ("model", "spec"):
                continue
            if isinstance(value, (int, float, str, bool, type(None), tuple, list)):
                out[key] = value
        return out


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
class MetricCategory(str, enum.Enum):
    GROUND_TRUTH = "ground_truth"
    FAITHFULNESS = "faithfulness"
    LOCALISATION = "localisation"
    RANDOMISATION = "randomisation"
    COST = "cost"


@dataclass(frozen=True)
class MetricInfo:
    """Class-level metadata of a metric.

    Attributes:
        name: registry name (also the ``metric`` column of records, possibly with a suffix).
        higher_is_better: direction.
        category: what it measures.
        needs_ground_truth: needs a model with patch ground truth.
        needs_mask: needs object masks; needs_bbox: needs boxes.
        needs_model: re-evaluates the model (deletion curves, randomisation).
        reference: paper or convention it follows.
    """

    name: str
    higher_is_better: bool
    category: MetricCategory
    needs_ground_truth: bool = False
    needs_mask: bool = False
    needs_bbox: bool = False
    needs_model: bool = False
    reference: str = ""
    extra: dict = field(default_factory=dict)
